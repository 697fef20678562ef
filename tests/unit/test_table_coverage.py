"""The endpoint table against bk-job's list of public APIs, and the rest against the table.

``docs/reference/bkjob-api-list.md`` is bk-job's list (gateway v3 ``resources.yaml``, ESB
``job.yaml``, the v2 resources, gateway v4), copied from bk-job's own files: every API it names
on a generation has a row serving that generation with bk-job's name and the gateway's method,
or is listed in ``PENDING`` below (not typed yet: flip it by adding its row). An API bk-job
adds shows up here as a missing row. Every row has its blocking twin, its simulator route on
each flavor that serves it, and bk-job's resource for the reference page's table.
"""

from __future__ import annotations

import inspect
import pathlib
import re

import pytest

from bkjob_async import ApiFlavor, BkJobClient
from bkjob_async import sync as sync_client
from bkjob_async._protocol import TABLE
from bkjob_async.testing._server import V2_ENDPOINTS, V3_ENDPOINTS, V4_ENDPOINTS

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIST = ROOT / "docs" / "reference" / "bkjob-api-list.md"
REFERENCE = ROOT / "docs" / "reference" / "endpoints.md"
GATEWAY, JOBV3, V2 = ApiFlavor.APIGW_V3, ApiFlavor.ESB_JOBV3, ApiFlavor.ESB_V2
V4 = ApiFlavor.APIGW_V4

#: Not typed yet, by API: the generations still to serve. ``callback_protocol`` is the shape of
#: the callback bk-job POSTs to a caller's URL (the poller's ``CallbackReceiver`` reads it), not a
#: request a client sends, so it has no row.
PENDING: dict[str, frozenset[ApiFlavor]] = {
    "callback_protocol": frozenset({GATEWAY, JOBV3, V2}),
}


#: The ESB's reads sent by GET with a query (its job.yaml suggests POST, or GET on v2; the ESB
#: takes either): the poll's status read.
ESB_GETS = frozenset({"get_job_instance_status"})


def _bkjob_list() -> dict[str, dict[ApiFlavor, tuple[str, str]]]:
    """Read the list: per API, each generation serving it -> (its name, its method)."""
    apis: dict[str, dict[ApiFlavor, tuple[str, str]]] = {}
    for line in LIST.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].startswith("`"):
            continue
        name, gateway, esb, v2, v4 = (c.strip("`") for c in cells)
        served: dict[ApiFlavor, tuple[str, str]] = {}
        if gateway != "-":
            served[GATEWAY] = (name, gateway)
        if esb in ("yes", "hidden"):
            served[JOBV3] = (name, "POST")
        if v2 != "-":
            served[V2] = (re.sub(r"`? \(v2 only\)$", "", v2), "POST")
        if v4 != "-":
            served[V4] = (name, v4)
        apis[name] = served
    return apis


BKJOB = _bkjob_list()


def test_the_list_is_bk_jobs_whole_list() -> None:
    assert len(BKJOB) == 75
    assert sum(GATEWAY in s for s in BKJOB.values()) == 64
    assert sum(JOBV3 in s for s in BKJOB.values()) == 58
    assert sum(V2 in s for s in BKJOB.values()) == 21
    assert sum(V4 in s for s in BKJOB.values()) == 9
    assert not set(TABLE) - set(BKJOB), "a row for an API bk-job does not list"


@pytest.mark.parametrize("api", sorted(n for n, s in BKJOB.items() if s))
def test_every_public_api_has_its_row_on_every_generation_that_serves_it(api: str) -> None:
    pending = PENDING.get(api, frozenset())
    row = TABLE.get(api)
    served = {} if row is None else row.bindings
    for flavor, (name, method) in BKJOB[api].items():
        if flavor in pending:
            assert flavor not in served, f"{api} on {flavor.value} is typed: take it off PENDING"
            continue
        assert flavor in served, f"{api} on {flavor.value}: no row (or mark it PENDING)"
        wire = served[flavor]
        assert wire.name == name, f"{api} on {flavor.value}"
        if flavor.is_gateway or api not in ESB_GETS:
            assert wire.method == method, f"{api} on {flavor.value}"
        else:  # the ESB takes GET or POST from a caller and forwards either as POST (spec §1)
            assert wire.method == "GET", f"{api} on {flavor.value}"
    for flavor in served:
        assert flavor in BKJOB[api], f"{api}: bk-job does not serve it on {flavor.value}"
    if row is not None and GATEWAY in BKJOB[api]:
        assert row.method == BKJOB[api][GATEWAY][1], f"{api}: the gateway's method"


def test_every_row_has_its_blocking_twin_simulator_route_and_resource() -> None:
    reference = REFERENCE.read_text(encoding="utf-8")
    for name, row in TABLE.items():
        twin = getattr(sync_client.BkJobClient, name, None)
        assert twin is not None, f"sync.BkJobClient has no {name}"
        assert inspect.signature(twin) == inspect.signature(getattr(BkJobClient, name))
        for flavor, wire in row.bindings.items():
            routes = {V2: V2_ENDPOINTS, V4: V4_ENDPOINTS}.get(flavor, V3_ENDPOINTS)
            route = routes.get(wire.name)
            assert route is not None, f"the simulator has no {wire.name} on {flavor.value}"
            if flavor.is_gateway:
                assert route.gateway_method == wire.method, name
            if flavor is JOBV3:
                assert route.jobv3, name
        assert row.resource.startswith(("`", "v2 `", "v4 `")), f"{name}: its row's resource="
    assert ":::{bkjob-endpoints}" in reference  # (the table of every row, from the rows)
