"""``client.compat``: the official SDK's dictionaries in, its envelope out, on the simulator.

bk-sops' and bk-nodeman's dictionaries go through as they are (base64 left to the caller,
``bk_username`` taken as the identity, ``bk_biz_id`` as v3's deprecated scope); the answer is
the envelope, ``result: false`` included; a key bk-job does not read, or a misshapen one, is
said once per client before the request goes; the groups are the endpoint table's rows; the
blocking client has the same.
"""

from __future__ import annotations

import base64
import json
import warnings
from typing import Any

import anyio
import pytest

from bkjob_async import ApiFlavor, BkJobClient, ConnectError, Scope, UnsupportedOperationError
from bkjob_async._protocol import TABLE
from bkjob_async.compat import SdkParameterWarning, reads
from bkjob_async.sync import BkJobClient as SyncClient
from bkjob_async.testing import BkJobSimulator, MockTransport, Request, Response, StepPlan
from tests.conftest import APP_SECRET, BK_TOKEN, RecordingServer, envelope

SCOPE = Scope.biz(2)
B64 = base64.b64encode(b"echo $1").decode()
PARAM = base64.b64encode(b"hello").decode()


class Recording:
    """A transport in front of another that keeps every request sent."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.sent = inner, []

    async def send(self, request: Request) -> Response:
        self.sent.append(request)
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def auth(self, n: int = -1) -> dict[str, str]:
        return json.loads(self.sent[n].headers["X-Bkapi-Authorization"])

    def body(self, n: int = -1) -> dict[str, Any]:
        request = self.sent[n]
        return json.loads(request.body) if request.body else dict(request.query or {})


@pytest.fixture
async def sim() -> Any:
    async with BkJobSimulator(virtual_clock=True, seed=3) as simulator:
        simulator.add_plan(42, [StepPlan(hosts=2)], name="backup")
        yield simulator


def client_for(sim: BkJobSimulator, flavor: str = "apigw-v3") -> tuple[BkJobClient, Recording]:
    wire = Recording(sim.transport())
    client = BkJobClient(
        "http://bk-job.invalid",
        app_code="sops",
        app_secret=APP_SECRET,
        username="admin",
        flavor=flavor,
        transport=wire,
    )
    return client, wire


def sops_script() -> dict[str, Any]:
    """A fast_execute_script dictionary as bk-sops' job plugin builds it."""
    return {
        "bk_username": "executor1",
        "bk_biz_id": 2,
        "script_language": 1,
        "script_content": B64,
        "script_param": PARAM,
        "script_timeout": 600,
        "account_alias": "root",
        "target_server": {"host_id_list": [101, 102]},
    }


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3", "apigw-v4"])
async def test_a_sops_script_run_goes_as_given_and_answers_the_envelope(
    sim: BkJobSimulator, flavor: str
) -> None:
    client, wire = client_for(sim, flavor)
    async with client:
        with pytest.warns(SdkParameterWarning, match="script_timeout"):  # (v3 reads `timeout`)
            answer = await client.compat.jobv3.fast_execute_script(sops_script())
        assert set(answer) >= {"result", "code", "message", "data", "request_id"}
        assert (answer["result"], answer["code"]) == (True, 0)
        job = answer["data"]["job_instance_id"]
        status = await client.compat.api.get_job_instance_status(
            bk_biz_id=2, job_instance_id=job, return_ip_result=True
        )
    assert status["result"] is True
    assert status["data"]["job_instance"]["job_instance_id"] == job  # (raw JSON, not a model)
    sent = wire.body(0)
    assert (sent["script_content"], sent["script_param"]) == (B64, PARAM)  # no second base64
    assert "bk_username" not in sent
    assert wire.auth(0)["bk_username"] == "executor1"
    assert wire.auth(1)["bk_username"] == "admin"
    assert sim.job(job).operator == "executor1"
    assert wire.sent[0].url.endswith("/fast_execute_script" + ("/" if "esb" in flavor else ""))
    assert "/api/v4/" not in wire.sent[0].url  # (the SDK's shapes are v3's, on v4's stage too)


async def test_result_false_is_returned_not_raised(sim: BkJobSimulator) -> None:
    client, _ = client_for(sim)
    async with client:
        answer = await client.compat.jobv3.get_job_instance_status(
            {"bk_scope_type": "biz", "bk_scope_id": "2", "job_instance_id": 99999}
        )
    assert answer["result"] is False
    assert answer["code"] == 1244006
    assert answer["data"] is None
    assert answer["message"]
    assert answer["request_id"]


async def test_a_nodeman_v2_call_and_its_unread_key_said_once_per_client(
    sim: BkJobSimulator,
) -> None:
    nodeman = {
        "bk_biz_id": 2,
        "bk_username": "admin",
        "script_content": B64,
        "script_type": 1,
        "account": "root",
        "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}],
        "os_type": "LINUX",  # bk-nodeman's own key: bk-job reads no such thing
    }
    for _ in range(2):
        client, wire = client_for(sim, "esb-v2")
        async with client:
            with pytest.warns(SdkParameterWarning) as told:
                first = await client.compat.job.fast_execute_script(nodeman)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                again = await client.compat.job.fast_execute_script(nodeman)
        assert [str(w.message) for w in told] == [
            "fast_execute_script on esb-v2 does not read 'os_type': bk-job ignores it "
            "(sent as given)"
        ]
        assert told[0].filename == __file__  # (the caller's line)
        assert first["result"] is again["result"] is True
        assert wire.body()["os_type"] == "LINUX"  # (sent as given, as the SDK would)


async def test_task_name_on_a_plan_is_said_to_be_ignored(sim: BkJobSimulator) -> None:
    client, _ = client_for(sim)
    async with client:
        with pytest.warns(SdkParameterWarning, match=r"execute_job_plan .* 'task_name'"):
            answer = await client.compat.jobv3.execute_job_plan(
                {"bk_scope_type": "biz", "bk_scope_id": "2", "job_plan_id": 42, "task_name": "x"}
            )
    assert answer["result"] is True
    assert answer["data"]["job_instance_name"] == "backup"


async def test_host_dicts_in_host_id_list_are_said_before_sending(sim: BkJobSimulator) -> None:
    params = {**sops_script(), "target_server": {"host_id_list": [{"bk_host_id": 101}]}}
    params["timeout"] = params.pop("script_timeout")
    client, wire = client_for(sim)
    async with client:
        with warnings.catch_warnings():
            warnings.simplefilter("error", SdkParameterWarning)
            with pytest.raises(SdkParameterWarning, match=r"host_id_list takes host ids .* dicts"):
                await client.compat.jobv3.fast_execute_script(params)
    assert wire.sent == []  # (said before anything was sent)
    client, wire = client_for(sim)
    async with client:
        with pytest.warns(SdkParameterWarning, match="1244001, Host is empty"):
            answer = await client.compat.jobv3.fast_execute_script(params)
    assert len(wire.sent) == 1
    assert (answer["result"], answer["code"]) == (False, 1244001)  # (bk-job's own answer)


async def test_credential_keys_the_sdk_took(sim: BkJobSimulator) -> None:
    client, wire = client_for(sim)
    async with client:
        await client.compat.jobv3.get_job_plan_list(
            bk_app_code="sops", bk_app_secret=APP_SECRET, bk_token=BK_TOKEN, bk_biz_id=2
        )
        with pytest.raises(ValueError, match="another app"):
            client.compat.jobv3.get_job_plan_list(bk_app_code="nodeman", bk_biz_id=2)
        with pytest.raises(UnsupportedOperationError, match=r"compat\.jobv3"):
            client.compat.job.get_job_list({"bk_biz_id": 2})
        with pytest.raises(AttributeError, match="did you mean get_job_plan_list"):
            client.compat.jobv3.get_job_plan_lists  # noqa: B018
        with pytest.raises(TypeError, match="dict"):
            client.compat.jobv3.get_job_plan_list([("bk_biz_id", 2)])
    assert len(wire.sent) == 1
    assert wire.auth() == {"bk_app_code": "sops", "bk_app_secret": APP_SECRET, "bk_token": BK_TOKEN}
    assert set(wire.body()) == {"bk_biz_id"}


async def test_reads_retry_and_what_never_reached_bk_job_raises() -> None:
    server = RecordingServer()
    server.reply(result=False, code=1306429, message="rate limited", status=429)
    server.reply({"data": [], "total": 0, "start": 0, "length": 20})
    async with BkJobClient(
        "http://bk-job.invalid", app_code="a", app_secret=APP_SECRET, username="u",
        transport=server.transport(), sleep=lambda s: anyio.sleep(0),
    ) as client:  # fmt: skip
        answer = await client.compat.jobv3.get_job_plan_list(bk_biz_id=2)
    assert answer["result"] is True
    assert len(server.requests) == 2

    def unreachable(request: Request) -> Response:
        raise ConnectError("refused")

    async with BkJobClient(
        "http://bk-job.invalid", app_code="a", app_secret=APP_SECRET, username="u",
        transport=MockTransport(unreachable), sleep=lambda s: anyio.sleep(0),
    ) as client:  # fmt: skip
        with pytest.raises(ConnectError):
            await client.compat.jobv3.get_job_plan_list(bk_biz_id=2)


def test_the_groups_are_the_endpoint_tables_rows() -> None:
    client = BkJobClient("http://x.invalid", app_code="a", app_secret="s", username="u")
    v3 = {
        n
        for n, row in TABLE.items()
        if {ApiFlavor.APIGW_V3, ApiFlavor.ESB_JOBV3} & set(row.bindings)
    }
    v2 = {
        row.bindings[ApiFlavor.ESB_V2].name
        for row in TABLE.values()
        if ApiFlavor.ESB_V2 in row.bindings
    }
    public = lambda group: {n for n in dir(group) if not n.startswith("_")}  # noqa: E731
    assert public(client.compat.jobv3) == public(client.compat.api) == v3
    assert public(client.compat.job) == v2 | {"get_job_instance_status"}  # (same name on v2)
    assert {"fast_push_file", "execute_job"} <= v2
    # What bk-job reads: what the client spells, and v3's deprecated bk_biz_id beside the scope.
    row = TABLE["fast_execute_script"]
    assert {"bk_biz_id", "bk_scope_type", "script_param", "timeout"} <= reads(
        row, ApiFlavor.APIGW_V3
    )
    assert "ip_list" in reads(row, ApiFlavor.ESB_V2)
    assert "task_name" not in reads(TABLE["execute_job_plan"], ApiFlavor.ESB_JOBV3)


def test_the_blocking_client_has_the_same() -> None:
    server = RecordingServer()
    server.reply(result=False, code=1244006, message="no such job")
    with SyncClient(
        "http://bk-job.invalid", app_code="a", app_secret=APP_SECRET, username="u",
        transport=server.transport(),
    ) as client:  # fmt: skip
        with pytest.warns(SdkParameterWarning, match="os_type") as told:
            answer = client.compat.jobv3.get_job_instance_status(
                {"bk_username": "bob", "bk_biz_id": 2, "job_instance_id": 7, "os_type": "x"}
            )
        assert told[0].filename == __file__
        ok = client.as_user("carol").compat.jobv3.get_job_instance_status(
            bk_biz_id=2, job_instance_id=7
        )
    assert answer == {
        "result": False,
        "code": 1244006,
        "message": "no such job",
        "data": None,
        "request_id": None,
    }
    assert ok == {**envelope({}), "request_id": None}
    assert [r.auth["bk_username"] for r in server.requests] == ["bob", "carol"]
