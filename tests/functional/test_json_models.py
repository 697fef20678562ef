"""``to_json``/``from_json``: every public model to JSON-ready builtins and back, unchanged.

The models are the answers of every client method on every flavor against the simulator (the
calls ``tests/functional/test_sync.py`` makes), every model nested in them, and the events of
a watch; a model no answer holds is made here. Each one's JSON form is what ``json.dumps``
writes and ``json.loads`` reads back as it is, and ``from_json`` makes an equal model of it.
The form itself (times, durations, enums, mappings) is pinned on a status; data that is not
the form is refused with the field named.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections import defaultdict
from typing import Any

import attrs
import pytest

import bkjob_async
import bkjob_async.models
import bkjob_async.polling.events
from bkjob_async import (
    ApiFlavor,
    BkJobError,
    ContainerTransition,
    CredentialSecret,
    HostTransition,
    JobFinished,
    JobInstanceStatus,
    PollPolicy,
    Targets,
    from_json,
    to_json,
)
from bkjob_async.models import (
    AccountRef,
    Container,
    ContainerResult,
    CronJob,
    CronStatus,
    ExecuteObjectFileLog,
    FileDestination,
    FileLog,
    FileLogMode,
    FileStepDetail,
    FileTaskStatus,
    Host,
    HostStatus,
    JobStatus,
    JobStatusPage,
    JobStatusRow,
    PlanVariable,
    ScriptCheckItem,
    ScriptCheckLevel,
    StepFileSource,
    TemplateApproval,
    TemplateVariable,
    TransferMode,
    VariableType,
    VariableValue,
)
from bkjob_async.polling.events import JobPollRecovered, PollingResumed, WatchTimedOut
from bkjob_async.sync import BkJobClient, Poller
from bkjob_async.testing import HostPlan, StepPlan
from tests.functional.test_sync import (  # noqa: F401  (``served``: the simulator, in a thread)
    CREDENTIALS,
    SCOPE,
    Fresh,
    Served,
    _calls,
    served,
)

#: Events that carry an error (no JSON form: ``to_json`` refuses them).
WITH_ERRORS = {"WatchFailed", "PollingStalled", "JobPollFailing"}


def public_models() -> set[type]:
    """Every attrs class of ``bkjob_async.models`` and the events of ``polling.events``."""
    found = set()
    for module in (bkjob_async.models, bkjob_async.polling.events):
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and attrs.has(value) and name not in WITH_ERRORS:
                found.add(value)
    return found


def collect(value: Any, found: dict[type, list[Any]]) -> None:
    """Add every attrs instance in ``value`` (nested in models, tuples, lists, dicts) by class."""
    pending = [value]
    while pending:
        item = pending.pop()
        if attrs.has(type(item)):
            found[type(item)].append(item)
            pending += [getattr(item, f.name) for f in attrs.fields(type(item))]
        elif isinstance(item, (tuple, list)):
            pending += item
        elif isinstance(item, dict):
            pending += item.values()


def answers(world: Served) -> dict[type, list[Any]]:
    found: dict[type, list[Any]] = defaultdict(list)
    for flavor in ApiFlavor:
        with BkJobClient(world.url, flavor=flavor, **CREDENTIALS) as client:
            for name, args, kwargs in _calls(world, flavor):
                if isinstance(args, Fresh):
                    args, kwargs = args.make(client), {**kwargs, **args.keywords()}
                try:
                    answer = getattr(client, name)(*args, **kwargs)
                    collect(list(answer) if name.startswith("iter_") else answer, found)
                except (BkJobError, ValueError):
                    continue  # (a flavor without the API, or a call the sim refuses)
            jobs = [world.job([StepPlan(hosts=[HostPlan(duration=0.05)] * 2)])]
            with Poller(client, policy=PollPolicy(interval=0.05, max_interval=0.1)) as poller:
                collect(list(poller.watch_jobs(SCOPE, jobs, timeout=10)), found)
    return found


def test_every_public_model_round_trips_through_its_json_form(served: Served) -> None:  # noqa: F811
    found = answers(served)
    collect(made(), found)
    missing = sorted(cls.__name__ for cls in public_models() - set(found))
    assert missing == [], f"no instance of {missing} to round-trip"
    for cls, instances in found.items():
        for model in instances[:40]:
            data = to_json(model)
            assert json.loads(json.dumps(data)) == data, cls.__name__
            assert from_json(cls, data) == model, cls.__name__
    # A poller's event keeps its id through the form (consumers dedupe on it).
    event = found[HostTransition][0]
    assert from_json(HostTransition, to_json(event)).event_id == event.event_id
    final = found[JobFinished][0]
    assert from_json(JobFinished, json.loads(json.dumps(to_json(final)))).snapshot == final.snapshot


def made() -> list[Any]:
    """Models the answers above do not hold (containers, file steps, variables, crons, ...),
    made as the converter or the poller would make them."""
    at = dt.datetime(2025, 1, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    box = Container(5, "docker://4b1d", "app", 1001)
    done = ContainerResult(box, HostStatus.SUCCESS, "t", 0, at, at, dt.timedelta(seconds=1.5))
    hosts = Targets(host_ids=[101], ips=["0:10.0.0.1"], topo_nodes=[("module", 42)])
    root = AccountRef(id=1, alias="root")
    source = StepFileSource(1, ("/data/a.tar",), hosts, root, None, None)
    var = PlanVariable("ver", VariableType.STRING, 3, "1.2", None, "the version", True, True)
    return [
        CredentialSecret.for_username_password("deploy", "pw-123456789"),  # (sent, never answered)
        ContainerTransition(9, at, 90, 0, box, HostStatus.RUNNING, HostStatus.SUCCESS, done),
        CronJob(
            4,
            "nightly",
            11,
            CronStatus.RUNNING,
            "0 2 * * *",
            "Asia/Shanghai",
            (var,),
            "admin",
            at,
            "bob",
            at,
        ),
        ExecuteObjectFileLog(
            FileLogMode.DOWNLOAD, FileTaskStatus.SUCCESS, src_path="/a", dest_path="/b", size="1 KB"
        ),
        FileStepDetail(
            (source,),
            FileDestination("/tmp/", root, hosts),
            600,
            100,
            200,
            TransferMode.STRICT,
            True,
        ),
        FileLog(
            FileLogMode.UPLOAD,
            FileTaskStatus.UPLOADING,
            Host(bk_host_id=101, ip="10.0.0.1", bk_cloud_id=0),
            "/a",
        ),
        JobStatusPage(0, 2, (JobStatusRow(7, 3, at), JobStatusRow(8, 2, None))),
        ScriptCheckItem(3, "rm -rf /", "rm -rf", ScriptCheckLevel.FATAL, "deletes everything"),
        TemplateApproval(2, ("alice", "bob"), ("JOB_RESOURCE_TRIGGER_USER",), "ok?", ("mail",)),
        TemplateVariable("ver", 1, "the version", True, "1.0"),
        VariableValue("ver", "1.2", VariableType.STRING),
        PollingResumed(9, at, at - dt.timedelta(minutes=2)),
        JobPollRecovered(9, at, at - dt.timedelta(seconds=30)),
        WatchTimedOut(9, at, None, occurrence=1),
    ]


SAMPLE = {
    "finished": True,
    "job_instance": {
        "job_instance_id": 7,
        "name": "deploy",
        "status": 3,
        "create_time": 1735689600000,
        "start_time": 1735689600000,
        "end_time": 1735689601500,
        "total_time": 1500,
        "bk_scope_type": "biz",
        "bk_scope_id": "2",
    },
    "step_instance_list": [
        {
            "step_instance_id": 70,
            "name": "run",
            "type": 1,
            "status": 3,
            "execute_count": 0,
            "total_time": 1500,
            "step_ip_result_list": [
                {"bk_host_id": 101, "ip": "10.0.0.1", "bk_cloud_id": 0, "status": 9}
            ],
        }
    ],
}


def test_the_form_times_durations_enums() -> None:
    from bkjob_async._converter import Generation, structure

    status = structure(SAMPLE, JobInstanceStatus, Generation.V3, dt.timezone(dt.timedelta(hours=8)))
    data = to_json(status)
    assert data["job"]["create_time"] == "2025-01-01T00:00:00+00:00"  # (v3: UTC)
    assert data["job"]["total_time"] == 1.5
    assert data["job"]["status"] == 3
    assert data["steps"][0]["hosts"][0]["status"] == HostStatus.SUCCESS.value == 9
    assert isinstance(data["steps"], list)
    back = from_json(JobInstanceStatus, data)
    assert back == status
    assert back.job.status is JobStatus.SUCCESS
    assert back.job.create_time.utcoffset() == dt.timedelta(0)
    many = from_json(tuple[JobInstanceStatus, ...], to_json((status, status)))
    assert many == (status, status)
    assert to_json({5: status.job})["5"]["name"] == "deploy"  # (keys as str)


def test_data_not_of_the_form_is_refused_naming_the_field() -> None:
    data = to_json(from_json(JobInstanceStatus, _form()))
    with pytest.raises(ValueError, match=r"JobInstance\.create_time"):
        from_json(JobInstanceStatus, {**data, "job": {**data["job"], "create_time": 1735689600000}})
    with pytest.raises(ValueError, match="JobInstanceStatus"):
        from_json(JobInstanceStatus, {**data, "finished": "yes"})
    with pytest.raises(ValueError, match="JobInstanceStatus"):
        from_json(JobInstanceStatus, [])
    with pytest.raises(TypeError, match="no JSON-ready form"):
        to_json(bkjob_async.WatchFailed(1, dt.datetime.now(dt.timezone.utc), BkJobError("x")))


def _form() -> dict[str, Any]:
    from bkjob_async._converter import Generation, structure

    return to_json(structure(SAMPLE, JobInstanceStatus, Generation.V3, dt.timezone.utc))


def test_unknown_enum_values_keep_their_value() -> None:
    data = _form()
    data["steps"][0]["hosts"][0]["status"] = 4242  # (a status a newer bk-job has)
    back = from_json(JobInstanceStatus, data)
    status = back.steps[0].hosts[0].status
    assert (int(status), isinstance(status, enum.Enum)) == (4242, True)
    assert to_json(back) == data
