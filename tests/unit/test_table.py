"""The endpoint table: one row per API, a client method and a blocking twin for each, the
gateway's method on the gateway and POST on the ESB, and requests that carry what spans read."""

from __future__ import annotations

import inspect

import pytest

from bkjob_async import ApiFlavor, BkJobClient, Scope
from bkjob_async import sync as sync_client
from bkjob_async._protocol import FAMILIES, TABLE, Api, Protocol
from bkjob_async.config import Credentials


def protocol(flavor: ApiFlavor) -> Protocol:
    return Protocol("http://bk.test", flavor=flavor, credentials=Credentials("a", "s", "u"))


def test_every_row_is_a_typed_async_method_with_a_blocking_twin() -> None:
    assert TABLE, "the table is empty"
    for name in TABLE:
        method = getattr(BkJobClient, name, None)
        assert method is not None, f"BkJobClient has no {name}"
        assert inspect.iscoroutinefunction(method), name
        twin = getattr(sync_client.BkJobClient, name, None)
        assert twin is not None, f"the sync client has no {name}"
        assert inspect.signature(twin) == inspect.signature(method), name


def _parameters(fn: object) -> list[tuple[str, object, object]]:
    """A signature's parameters as (name, kind, default), ``self`` aside."""
    return [
        (p.name, p.kind, p.default)
        for p in inspect.signature(fn).parameters.values()  # type: ignore[arg-type]
        if p.name != "self"
    ]


def test_every_spelling_takes_its_methods_parameters() -> None:
    """A method hands its arguments to its row by name (its ``locals()``): each spelling of the
    row takes the same names, kinds and defaults (its annotations may be wider: it checks)."""
    for name, api in TABLE.items():
        method = getattr(BkJobClient, name)
        wanted = _parameters(method)
        if any(kind is inspect.Parameter.VAR_KEYWORD for _, kind, _ in wanted):
            continue  # (``**filters``: the method spells its arguments out)
        for flavor, wire in api.bindings.items():
            assert _parameters(wire.spell) == wanted, f"{name} on {flavor.value}"


def test_every_row_lives_in_a_family_and_names_itself() -> None:
    rows = [v for family in FAMILIES for v in vars(family).values() if isinstance(v, Api)]
    assert sorted(r.name for r in rows) == sorted(TABLE)
    for api in TABLE.values():
        assert api.bindings, f"{api.name} is served nowhere"
        assert api.method in ("GET", "POST")
        if api.method == "GET":
            assert api.read, f"{api.name}: a GET is a read"


#: The reads sent again and again, by GET with a query on the ESB too (a poll's; the ESB takes
#: GET or POST from callers and forwards either as POST: spec §1).
_ESB_GETS = frozenset({"get_job_instance_status"})


@pytest.mark.parametrize("flavor", list(ApiFlavor), ids=lambda f: f.value)
def test_the_gateway_takes_the_rows_method_and_the_esb_post(flavor: ApiFlavor) -> None:
    for api in TABLE.values():
        wire = api.bindings.get(flavor)
        if wire is None:
            continue
        if flavor.is_gateway:
            assert (wire.name, wire.method) == (api.name, api.method)
        elif api.name in _ESB_GETS:
            assert wire.method == "GET", api.name
        else:
            assert wire.method == "POST", api.name
        request = protocol(flavor).request(api, {"bk_biz_id": 2})
        assert request.method == wire.method
        assert request.url.rstrip("/").endswith("/" + wire.name)
        assert request.idempotent is api.read
        assert request.v4 is (flavor is ApiFlavor.APIGW_V4)
        assert ("/api/v4/" in request.url) is request.v4


def test_apigw_v4_sends_v4_where_bk_job_has_it_and_the_gateways_v3_elsewhere() -> None:
    proto = protocol(ApiFlavor.APIGW_V4)
    scope = Scope.biz(2)
    status = proto.build("get_job_instance_status", scope, 3)
    assert status.url == "http://bk.test/api/v4/get_job_instance_status"
    assert status.v4
    assert status.query is not None
    assert status.query["return_execute_object_result"] == "true"
    operate = proto.build("operate_job_instance", scope, 3, 1)
    assert operate.url == "http://bk.test/api/v3/operate_job_instance"
    assert not operate.v4
    assert proto.raw("query_agent_info", {}).url.endswith("/api/v3/query_agent_info")
    from bkjob_async import UnsupportedOperationError

    with pytest.raises(UnsupportedOperationError):  # ESB only: neither gateway serves it
        proto.build("get_latest_service_version")


@pytest.mark.parametrize("flavor", list(ApiFlavor), ids=lambda f: f.value)
def test_a_request_carries_its_scope_job_and_step(flavor: ApiFlavor) -> None:
    proto = protocol(flavor)
    scope = Scope.biz(2)
    request = proto.build("operate_step_instance", scope, 5, 6, 2)
    assert (request.scope, request.job_instance_id, request.step_instance_id) == ("biz:2", 5, 6)
    assert proto.build("get_job_plan_detail", scope, 7).job_instance_id is None
    if flavor.is_v3:
        other = proto.build("get_job_instance_status", Scope.biz_set(9), 3)
        assert (other.scope, other.job_instance_id) == ("biz_set:9", 3)
    raw = proto.raw("get_thing", {"bk_scope_type": "biz_set", "bk_scope_id": "4", "x": 1})
    assert (raw.scope, raw.job_instance_id, raw.step_instance_id) == ("biz_set:4", None, None)


def test_an_unknown_name_and_a_flavor_without_the_api_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown bk-job API 'nope'"):
        protocol(ApiFlavor.APIGW_V3).build("nope")
    from bkjob_async import UnsupportedOperationError

    with pytest.raises(UnsupportedOperationError, match="use flavor 'apigw-v3' or 'esb-jobv3'"):
        protocol(ApiFlavor.ESB_V2).build("get_job_instance_ip_log", Scope.biz(2), 1, 2, 3)
