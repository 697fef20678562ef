"""A field bk-job's DTOs let be null may be null, or left out, and the answer still reads.

bk-job's DTOs declare almost every field boxed (``Long``, ``Integer``, ``String``): nullable.
Jackson writes a null field as ``null`` inside ``data`` (``EsbResp`` leaves out nulls at the
envelope only), and a DTO marked ``NON_NULL`` leaves it out. Real answers (the simulator's, on
every flavor, for every read and write below; the recorded samples of bk-job's docs; the cron
detail example of bk-job's own docs) are read here with each field set to ``null`` and with it
left out, one at a time and (Hypothesis) many at once: each must read, never raise
``ResponseFormatError``.

The exceptions are the fields that say *what* an answer is about, which bk-job fills in every
conversion at 588f99bb (``IDENTITY``): ids, statuses and finished flags, a step's or execute
object's type, the name a variable is known by, and the page counters of the history list.
Without one of those an answer says nothing a caller can act on, and refusing it
(``ResponseFormatError``, retried as a malformed answer) is the right reading.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bkjob_async import (
    Account,
    BkJobClient,
    Credentials,
    FileSource,
    GlobalVar,
    HostStatus,
    Scope,
    StepType,
    Targets,
)
from bkjob_async._protocol import Protocol, Request, Response
from bkjob_async.testing import BkJobSimulator, HostPlan, PlanVar, StepPlan
from tests.conftest import load_sample
from tests.unit.test_protocol_catalog import CRON_DETAIL_EXAMPLE, PLAN_V3

SCOPE = Scope.biz(2)
FLAVORS = ("apigw-v3", "esb-jobv3", "esb-v2", "apigw-v4")

#: The fields that say what an answer is about (a pattern: keys joined by ``/``, ``*`` for
#: every row of a list). bk-job fills each in every conversion (``toEsb*`` at 588f99bb).
IDENTITY = [
    re.compile(rule)
    for rule in (
        # ids of what is answered: jobs, steps, plans, crons, accounts, scripts, versions,
        # templates, rules (``setId`` from a NOT NULL primary key)
        r"(^|/)(id|job_instance_id|step_instance_id|step_id|bk_job_id|cron_id|db_account_id)$",
        # states: a job's, a step's, a host's, a cron's, a log group's, a result group's
        r"(^|/)(status|cron_status|ip_status|result_type)$",
        r"^(finished|is_finished|job_instance|step_instance_detail)$",
        r"^\*/is_finished$",
        # kinds: a step's type, an execute object (and its type) in a v4 row, a file log's
        # mode (upload or download), a topology node's type (with its id, the node)
        r"^type$",
        r"^(step_list|steps)/\*/type$",
        r"(^|/)(src_|dest_)?execute_object(/type)?$",
        r"(^|/)(file_logs|upload_log|download_log)/\*/mode$",
        r"topo_node_list/\*/node_type$",
        # the name a variable is known by
        r"(global_var_list|global_vars|step_instance_var_values)/\*/name$",
        # the history list's page (EsbPageDataV3 from PageData: always set)
        r"^(start|length|total)$",
        # a notification policy's trigger, an authorized scope's scope
        r"^\*/trigger_type$",
        r"^scope_list/\*/bk_scope_(type|id)$",
    )
]


class Recording:
    """A transport that keeps every request it sends and the answer it got."""

    def __init__(self, inner: Any, seen: list[tuple[str, Request, Response]], flavor: str):
        self.inner, self.seen, self.flavor = inner, seen, flavor

    async def send(self, request: Request) -> Response:
        response = await self.inner.send(request)
        self.seen.append((self.flavor, request, response))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _calls(sim: BkJobSimulator, client: BkJobClient, flavor: str, script: Any) -> None:
    """Call every API the client reads an answer of, on ``flavor``; refusals are fine."""
    v2 = flavor == "esb-v2"
    ok = HostPlan(bk_host_id=1001, ip="10.0.0.1", ipv6="fe80::1", duration=1)
    bad = HostPlan(bk_host_id=1002, ip="10.0.0.2", duration=1, outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE)  # fmt: skip
    failed = sim.create_job(SCOPE, [StepPlan(hosts=[ok, bad])])
    copied = sim.create_job(SCOPE, [StepPlan(StepType.FILE, hosts=[ok])])
    planned = sim.create_job(SCOPE, [StepPlan(hosts=[ok])], name="plan job")
    sim.advance(60)
    run = sim.job(failed).steps[0].step_instance_id
    copy = sim.job(copied).steps[0].step_instance_id
    one, two = ((0, "10.0.0.1"), (0, "10.0.0.2")) if v2 else (1001, 1002)
    targets = Targets(ips=["0:10.0.0.1"]) if v2 else Targets(host_ids=[1001])
    now = dt.datetime.fromtimestamp(sim.now_ms() / 1000, dt.timezone.utc)
    window = {"created_from": now - dt.timedelta(days=1), "created_to": now}
    root = Account(alias="root")
    cron = {} if v2 else {"global_vars": [GlobalVar(name="version", value="3")]}
    calls = [
        lambda: client.get_job_instance_status(SCOPE, failed, with_hosts=True),
        lambda: client.get_job_instance_status(SCOPE, copied, with_hosts=True),
        lambda: client.get_step_instance_status(SCOPE, failed, run),
        lambda: client.get_job_instance_ip_log(SCOPE, failed, run, one),
        lambda: client.get_job_instance_ip_log(SCOPE, copied, copy, one),
        lambda: client.batch_get_job_instance_ip_log(SCOPE, failed, run, [one, two]),
        lambda: client.batch_get_job_instance_ip_log(SCOPE, copied, copy, [one]),
        lambda: client.batch_get_job_instance_execute_object_log(
            SCOPE, failed, run, hosts=[one, two]
        ),
        lambda: client.batch_get_job_instance_execute_object_log(SCOPE, copied, copy, hosts=[one]),
        lambda: client.get_job_instance_log(SCOPE, failed),
        lambda: client.get_job_instance_list(SCOPE, **window),
        lambda: client.get_job_plan_list(SCOPE),
        lambda: client.get_job_plan_detail(SCOPE, 11),
        lambda: client.get_account_list(SCOPE),
        lambda: client.get_own_db_account_list(SCOPE),
        lambda: client.get_script_list(SCOPE),
        lambda: client.get_public_script_list(),
        lambda: client.get_script_version_list(SCOPE, script[0], return_script_content=True),
        lambda: client.get_script_version_detail(SCOPE, script_version_id=script[1][0]),
        lambda: client.get_script_detail(SCOPE, script[1][0]),
        lambda: client.save_cron(
            SCOPE, job_plan_id=11, name=f"cron {flavor}", expression="0 1 * * *", **cron
        ),
        lambda: client.get_job_template_list(SCOPE),
        lambda: client.get_job_template_detail(SCOPE, 100011),
        lambda: client.get_step_instance_detail(SCOPE, failed, run),
        lambda: client.get_step_instance_detail(SCOPE, copied, copy),
        lambda: client.get_user_authorized_scopes(),
        lambda: client.get_dangerous_rule_list(),
        lambda: client.check_script("reboot"),
        lambda: client.get_notify_config(SCOPE),
        lambda: client.get_latest_service_version(),
        lambda: client.fast_execute_script(
            SCOPE, targets=targets, account=root, script_content="echo"
        ),
        lambda: client.fast_transfer_file(
            SCOPE,
            targets=targets,
            account=root,
            file_target_path="/tmp/",
            file_sources=[FileSource(["/a"], server=targets, account=root)],
        ),
        lambda: client.execute_job_plan(
            SCOPE, 11, global_vars=[GlobalVar(name="version", value="2")]
        ),
    ]
    for call in calls:
        try:
            await call()
        except Exception:  # (an API this flavor lacks, a refusal: no answer to read)
            continue
    job = (await client.execute_job_plan(SCOPE, 11)).job_instance_id
    sim.advance(60)
    await client.get_job_instance_global_var_value(SCOPE, job)
    for found in (await client.get_cron_list(SCOPE)).items:
        if not v2:
            await client.get_cron_detail(SCOPE, found.id)
    del planned


async def _harvest() -> list[tuple[str, Request, Response]]:
    seen: list[tuple[str, Request, Response]] = []
    async with BkJobSimulator(virtual_clock=True, seed=3) as sim:
        sim.add_plan(
            11,
            [StepPlan(hosts=1, script_content="echo $1", script_param="-v"),
             StepPlan(StepType.MANUAL_CONFIRM)],
            name="plan",
            variables=[PlanVar("version", "1"), PlanVar("pw", "secret-secret-1", type=4),
                       PlanVar("hosts", "0:10.0.0.3", type=3)],
            outputs={"version": "9"},
        )  # fmt: skip
        script = sim.add_script(SCOPE, "hello", "echo hello")
        sim.add_script(None, "public", "echo hi")
        sim.add_dangerous_rule("reboot")
        for flavor in FLAVORS:
            transport = Recording(sim.transport(), seen, flavor)
            async with BkJobClient(
                "http://bk-job.invalid", app_code="a", app_secret="s", username="admin",
                flavor=flavor, transport=transport,
            ) as client:  # fmt: skip
                await _calls(sim, client, flavor, script)
    return seen


def _sent(request: Request) -> dict[str, Any]:
    if request.query:
        return dict(request.query)
    return json.loads(request.body) if request.body else {}


Answer = tuple[str, str, dict[str, Any], Any]


@functools.cache
def answers() -> tuple[Answer, ...]:
    """Every answer with data: ``(flavor, api, sent, data)``, the simulator's and bk-job's
    docs' (the recorded samples, the plan and cron detail examples)."""
    found: list[Answer] = []
    for flavor, request, response in anyio.run(_harvest):
        body = json.loads(response.body) if response.body else None
        if not isinstance(body, dict) or body.get("data") is None:
            continue
        if request.v4 and not 200 <= response.status < 300:
            continue
        if not request.v4 and body.get("result") is not True:
            continue
        found.append((flavor, request.api, _sent(request), body["data"]))
    for name, flavor, api in (
        ("get_job_instance_status.v2.esb-doc-zh.json", "esb-v2", "get_job_instance_status"),
        ("get_job_instance_status.v3.apigw-doc.json", "apigw-v3", "get_job_instance_status"),
        ("get_job_instance_status.v3.esb-doc-en.json", "esb-jobv3", "get_job_instance_status"),
        ("get_step_instance_status.v2.esb-doc-en.json", "esb-v2", "get_step_instance_status"),
        ("get_step_instance_status.v3.apigw-doc.json", "apigw-v3", "get_step_instance_status"),
    ):
        found.append((flavor, api, {}, load_sample(name)["data"]))
    found.append(("apigw-v3", "get_cron_detail", {}, CRON_DETAIL_EXAMPLE))
    found.append(("apigw-v3", "get_job_plan_detail", {}, PLAN_V3))
    return tuple(found)


@functools.cache
def protocol(flavor: str) -> Protocol:
    return Protocol("http://x.invalid", flavor=flavor, credentials=Credentials("a", "b", "c"))


def _patterns(value: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Yield the path of every field of ``value``: keys, ``*`` for every row of a list."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from _patterns(inner, (*prefix, key))
    elif isinstance(value, list):
        for item in value:
            yield from _patterns(item, (*prefix, "*"))


def _without(value: Any, path: tuple[str, ...], how: str) -> Any:
    """Return ``value`` with the field at ``path`` set to ``None`` or (``"drop"``) left out."""
    head, rest = path[0], path[1:]
    if head == "*":
        return (
            [_without(item, path[1:], how) for item in value] if isinstance(value, list) else value
        )
    if not isinstance(value, dict) or head not in value:
        return value
    changed = dict(value)
    if rest:
        changed[head] = _without(value[head], rest, how)
    elif how == "drop":
        del changed[head]
    else:
        changed[head] = None
    return changed


def nullable(data: Any) -> list[tuple[str, ...]]:
    """Return the paths of the fields bk-job may send null: all but ``IDENTITY``'s."""
    paths = sorted(set(_patterns(data)))
    return [p for p in paths if not any(rule.search("/".join(p)) for rule in IDENTITY)]


def read(flavor: str, api: str, sent: dict[str, Any], data: Any) -> Any:
    return protocol(flavor).answer(api, data, sent)


def test_the_answers_cover_every_flavor_and_the_apis_the_apps_read() -> None:
    seen = {(flavor, api) for flavor, api, _, _ in answers()}
    assert {flavor for flavor, _ in seen} == set(FLAVORS)
    apis = {api for _, api in seen}
    assert len(seen) >= 80
    assert {
        "get_job_instance_status", "get_step_instance_status", "get_job_instance_ip_log",
        "batch_get_job_instance_ip_log", "batch_get_job_instance_execute_object_log",
        "get_job_instance_log", "get_job_instance_list", "get_job_plan_detail",
        "get_job_instance_global_var_value", "get_cron_list", "get_cron_detail", "save_cron",
        "get_account_list", "get_step_instance_detail", "fast_execute_script",
        "fast_transfer_file", "execute_job_plan", "get_script_version_detail",
    } <= apis  # fmt: skip
    for flavor, api, sent, data in answers():
        read(flavor, api, sent, data)  # (as answered)


@pytest.mark.parametrize("how", ["null", "drop"])
def test_each_nullable_field_null_or_left_out_reads(how: str) -> None:
    refused = []
    for flavor, api, sent, data in answers():
        for path in nullable(data):
            try:
                read(flavor, api, sent, _without(data, path, how))
            except Exception as error:  # (every refusal is listed)
                refused.append(f"{flavor} {api} {'/'.join(path)}: {error}")
    assert refused == []


@st.composite
def thinned(draw: st.DrawFn) -> tuple[Answer, Any]:
    """An answer with many of its nullable fields null or left out at once."""
    answer = draw(st.sampled_from(answers()))
    data = answer[3]
    for path in draw(st.lists(st.sampled_from(nullable(data) or [("-",)]), max_size=12)):
        data = _without(data, path, draw(st.sampled_from(["null", "drop"])))
    return answer, data


@settings(max_examples=300, deadline=None)
@given(thinned())
def test_many_nullable_fields_at_once_read(case: tuple[Answer, Any]) -> None:
    (flavor, api, sent, _), data = case
    read(flavor, api, sent, data)


@pytest.mark.parametrize(
    "path",
    [("job_instance", "status"), ("step_instance_list", "*", "step_instance_id")],
)
def test_an_identity_field_left_out_is_refused(path: tuple[str, ...]) -> None:
    from bkjob_async import ResponseFormatError

    data = load_sample("get_job_instance_status.v3.apigw-doc.json")["data"]
    with pytest.raises(ResponseFormatError):
        read("apigw-v3", "get_job_instance_status", {}, _without(data, path, "drop"))
