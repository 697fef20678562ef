"""``bkjob_async.sync``: the async client and poller for sync code, on one loop thread.

Against a simulator served on 127.0.0.1 from a thread of its own: every client method through
the blocking facade answers what the async client answers (or raises the same error), for the
three flavors; 32 threads share one client and its few pooled connections (counted in
``/proc/net/tcp``); a client made before a fork works in the child; SIGINT during
``wait_finished`` cancels the wait underneath (no watch left) and leaves the client usable; the
sync API in a running loop is refused; ``close()`` leaves no thread and no file descriptor
behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import start_blocking_portal

from bkjob_async import (
    Account,
    AccountType,
    ApiFlavor,
    ConfigFile,
    CredentialSecret,
    CronStatus,
    FileSource,
    HostTransition,
    JobFinished,
    JobOperation,
    JobStatus,
    KubeContainerFilter,
    NotFoundError,
    PollPolicy,
    Scope,
    StepOperation,
    Targets,
)
from bkjob_async import BkJobClient as AsyncClient
from bkjob_async.models.enums import HostStatus
from bkjob_async.sync import BkJobClient, Poller, failed_containers, failed_hosts
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan

SCOPE = Scope.biz(2)
ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = {"app_code": "a", "app_secret": "s", "username": "admin"}
#: For tests of the blocking plumbing, not of the pace: the default's first poll of a job
#: comes up to 5 s after the watch starts (its phase), this one's within 50 ms.
QUICK = PollPolicy(interval=0.05, max_interval=0.1)
FAILS = HostPlan(outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, duration=0.05)


class Served:
    """A simulator on 127.0.0.1, run by a loop in a thread of its own."""

    def __init__(self, portal, sim: BkJobSimulator, scripts=None) -> None:
        self.portal, self.sim, self.url, self.scripts = portal, sim, sim.url, scripts

    def job(self, steps, **kwargs) -> int:
        return self.portal.call(lambda: self.sim.create_job(SCOPE, steps, **kwargs))

    def wait_ended(self, job: int) -> None:
        async def ended() -> None:
            with anyio.fail_after(10):
                while not self.sim.job(job).status.is_finished:
                    await anyio.sleep(0.01)

        self.portal.call(ended)

    def count(self, api: str | None = None) -> int:
        return self.portal.call(self.sim.request_count, api)


@pytest.fixture
def served() -> Iterator[Served]:
    with start_blocking_portal() as portal:
        sim = BkJobSimulator(host_duration=(0.05, 0.2))
        portal.call(sim.__aenter__)
        try:
            portal.call(lambda: sim.add_plan(11, [StepPlan(hosts=1)], name="plan eleven"))
            scripts = portal.call(lambda: sim.add_script(SCOPE, "hello", "echo hello"))
            yield Served(portal, sim, scripts)
        finally:
            portal.call(sim.__aexit__, None, None, None)


class Fresh:
    """Arguments made anew for each side, just before its call: an operation that changes a
    job is made on a job of its own, so the second side finds what the first one found."""

    def __init__(self, make, keywords=None) -> None:
        self.make = make
        #: Keyword arguments made anew for each side (a name that must be new each time).
        self.keywords = keywords or dict


def _calls(served: Served, flavor: ApiFlavor) -> list[tuple[str, tuple | Fresh, dict]]:
    v2 = flavor is ApiFlavor.ESB_V2
    targets = Targets(ips=["0:10.0.0.7"]) if v2 else Targets(host_ids=[1007])
    ok = HostPlan(duration=0.05, bk_host_id=1001, ip="10.0.0.1")
    job = served.job([StepPlan(hosts=[ok, FAILS])])
    served.wait_ended(job)
    step = served.portal.call(lambda: served.sim.job(job).steps[0].step_instance_id)
    host = (0, "10.0.0.1") if v2 else 1001
    now = dt.datetime.now(dt.timezone.utc)
    window = {"created_from": now - dt.timedelta(hours=1), "created_to": now}
    root = Account(alias="root")
    version = served.scripts[1][0]

    def failed_step() -> tuple:
        failed = served.job([StepPlan(hosts=[FAILS])])
        served.wait_ended(failed)
        first = served.portal.call(lambda: served.sim.job(failed).steps[0].step_instance_id)
        return (SCOPE, failed, first, StepOperation.RETRY_FAILED)

    def status_request(client) -> tuple:
        return (client.protocol.build("get_job_instance_status", SCOPE, job),)

    script_id = served.scripts[0]
    public_id, (public_version,) = served.portal.call(
        lambda: served.sim.add_script(None, "public hello", "echo hi")
    )
    rule = served.portal.call(lambda: served.sim.add_dangerous_rule("reboot", enabled=False))
    scopes = iter(range(500, 10_000))

    def fresh_script(public: bool = False) -> tuple:
        """A script of its own for each side (``(scope,) script_id, version_id``)."""
        scope = None if public else Scope.biz(next(scopes))
        made = served.portal.call(  # (offline: the lists of online scripts stay the same)
            lambda: served.sim.add_script(scope, "made", "true", online="-")
        )
        return (made[0], made[1][0]) if scope is None else (scope, made[0], made[1][0])

    def fresh_draft(public: bool = False) -> tuple:
        """A script of its own with a draft version (``(scope,) script_id, draft_id``)."""

        def make() -> tuple:
            world = served.sim._world
            made, _ = served.sim.add_script(None if public else SCOPE, "made", "true", online="-")
            draft = world.store.add_version(
                world.store.scripts[made], "2", "x", 0, None, world.now_ms()
            )
            return made, draft.id

        made, draft = served.portal.call(make)
        return (made, draft) if public else (SCOPE, made, draft)

    def no_public_named(name: str) -> tuple:
        store = served.sim._world.store
        for script in [s for s in store.scripts.values() if s.scope is None and s.name == name]:
            served.portal.call(lambda script=script: store.drop_script(script))
        return ()

    def no_rule(expression: str) -> tuple:
        store = served.sim._world.store
        for found in [r for r in store.rules.values() if r.expression == expression]:
            served.portal.call(lambda found=found: store.remove_rule(found.id))
        return ()

    return [
        ("send", Fresh(status_request), {}),
        ("get_job_instance_status", (SCOPE, job), {}),
        ("get_job_instance_status", (SCOPE, 99999999), {}),  # NotFoundError, both ways
        ("get_step_instance_status", (SCOPE, job, step), {}),
        ("get_job_instance_ip_log", (SCOPE, job, step, host), {}),
        ("batch_get_job_instance_ip_log", (SCOPE, job, step, [host]), {}),
        ("batch_get_job_instance_execute_object_log", (SCOPE, job, step), {"hosts": [host]}),
        ("get_job_instance_log", (SCOPE, job), {}),  # ESB v2 only
        ("get_job_instance_global_var_value", (SCOPE, job), {}),
        ("get_job_instance_list", (SCOPE,), {**window, "length": 5}),
        ("iter_job_instances", (SCOPE,), {**window, "page_size": 2}),
        ("failed_host_logs", (SCOPE, job), {}),
        ("host_logs", (SCOPE, job), {}),
        ("job_result", (SCOPE, job), {}),
        ("failed_container_logs", (SCOPE, job), {}),
        ("operate_job_instance", (SCOPE, job, JobOperation.TERMINATE), {}),  # refused: ended
        ("operate_step_instance", Fresh(lambda _: failed_step()), {}),
        ("fast_execute_script", (SCOPE,), {"targets": targets, "account": root,
                                            "script_content": "echo", "task_name": "t"}),
        ("fast_transfer_file", (SCOPE,), {
            "targets": targets, "account": root, "file_target_path": "/tmp/",
            "file_sources": [FileSource(files=["/a"], server=targets, account=root)]}),
        ("push_config_file", (SCOPE,), {"targets": targets, "account": root,
                                         "file_target_path": "/etc", "task_name": "c",
                                         "files": [ConfigFile("a.conf", "x = 1\n")]}),
        ("execute_job_plan", (SCOPE, 11), {}),
        ("get_job_plan_list", (SCOPE,), {"length": 5}),
        ("iter_job_plans", (SCOPE,), {"page_size": 1}),
        ("get_job_plan_detail", (SCOPE, 11), {}),
        ("get_script_list", (SCOPE,), {"length": 5}),  # v3 only
        ("iter_scripts", (SCOPE,), {"page_size": 1}),
        ("get_script_version_detail", (SCOPE,), {"script_version_id": version}),
        ("get_public_script_list", (), {"length": 5}),  # v3 only
        ("get_cron_list", (SCOPE,), {"length": 5}),
        ("iter_crons", (SCOPE,), {"page_size": 2}),
        ("get_cron_detail", (SCOPE, 99999), {}),  # None (v3); no detail on ESB v2
        ("save_cron", (SCOPE,), {"job_plan_id": 999, "name": "c", "expression": "0 1 * * *"}),
        ("update_cron_status", (SCOPE, 99999, CronStatus.RUNNING), {}),  # NotFoundError
        ("delete_cron", (SCOPE, 99999), {}),  # NotFoundError (v3); none on ESB v2
        ("get_public_script_version_detail", (), {"script_version_id": public_version}),
        ("get_script_version_list", (SCOPE, script_id), {"return_script_content": True}),
        ("get_public_script_version_list", (public_id,), {}),
        ("iter_script_versions", (SCOPE, script_id), {"page_size": 1}),
        ("get_script_detail", (SCOPE, version), {}),  # v2 only
        ("create_script", Fresh(lambda _: (Scope.biz(next(scopes)),)),
         {"name": "made", "content": "true", "version": "1"}),
        ("create_public_script", Fresh(lambda _: no_public_named("made public")),
         {"name": "made public", "content": "true", "version": "1"}),
        ("create_script_version", Fresh(lambda _: fresh_script()[:2]),
         {"content": "x", "version": "2"}),
        ("create_public_script_version", Fresh(lambda _: fresh_script(True)[:1]),
         {"content": "x", "version": "2"}),
        ("update_script_basic", Fresh(lambda _: fresh_script()[:2]), {"name": "renamed"}),
        ("update_public_script_basic",
         Fresh(lambda _: no_public_named("renamed public") + fresh_script(True)[:1]),
         {"name": "renamed public"}),
        ("update_script_version", Fresh(lambda _: fresh_draft()), {"content": "y"}),
        ("update_public_script_version", Fresh(lambda _: fresh_draft(public=True)),
         {"content": "y"}),
        ("publish_script_version", (SCOPE, script_id, version), {}),
        ("publish_public_script_version", (public_id, public_version), {}),
        ("disable_script_version", Fresh(lambda _: fresh_script()), {}),
        ("disable_public_script_version", Fresh(lambda _: fresh_script(True)), {}),
        ("delete_script", Fresh(lambda _: fresh_script()[:2]), {}),
        ("delete_public_script", Fresh(lambda _: fresh_script(True)[:1]), {}),
        ("delete_script_version", Fresh(lambda _: fresh_script()), {}),
        ("delete_public_script_version", Fresh(lambda _: fresh_script(True)), {}),
        ("check_script", ("reboot",), {}),
        ("get_dangerous_rule_list", (), {}),
        ("create_dangerous_rule", Fresh(lambda _: no_rule("halt")),
         {"expression": "halt", "script_languages": [1], "action": 1}),
        ("update_dangerous_rule", (rule,),
         {"expression": "reboot", "script_languages": [1, 4], "action": 2}),
        ("enable_dangerous_rule", (rule,), {}),
        ("disable_dangerous_rule", (rule,), {}),
        ("delete_dangerous_rule", (99_999,), {}),
        ("call", ("get_job_instance_status", {**SCOPE.params(flavor), "job_instance_id": job}), {}),
        ("call", ("get_job_plan_list", {**SCOPE.params(flavor), "length": 2}), {}),
        ("call", ("get_no_such_api", {}), {"method": "GET"}),  # NotFoundError, both ways
        ("get_account_list", (SCOPE,), {"length": 5}),
        ("iter_accounts", (SCOPE,), {"page_size": 2}),
        *_manage_calls(served, v2, targets, job, step),
    ]  # fmt: skip


def _manage_calls(served: Served, v2: bool, targets: Targets, job: int, step: int) -> list:
    """The account, credential, file source, template, step detail, SQL and settings calls; a
    create makes a new name for each side, an update or delete acts on what each side made."""
    world, n = served.sim._world, itertools.count()
    repo = {"credential_id": "c" * 32, "base_url": "https://bkrepo.example.com"}
    served.portal.call(
        lambda: world.store.add_file_source(
            SCOPE,
            code="shared",
            alias="shared",
            type="BLUEKING_ARTIFACTORY",
            access_params=repo,
            credential_id="c" * 32,
            file_prefix="",
            creator="admin",
            create_ms=0,
            modifier="admin",
            modify_ms=0,
        )
    )
    credential = served.portal.call(
        lambda: world.store.add_credential(
            SCOPE, "shared", "PASSWORD", None, ("x", None), user="admin", now_ms=0
        )
    ).id
    other = Scope.biz(3)  # accounts change there, not in the scope the lists read
    accounts = served.portal.call(lambda: world.store.accounts_of(SCOPE, world.now_ms()))
    mysql = next(a.id for a in accounts if a.category == 2)
    root = served.portal.call(lambda: world.store.accounts_of(other, world.now_ms()))[0].id

    def new_account(_) -> tuple:
        return (other, served.portal.call(lambda: served.sim.add_account(other, f"gone{next(n)}")))

    secret = CredentialSecret.for_password("pw-0123456789")
    return [
        ("create_file_source", Fresh(lambda _: (SCOPE,), lambda: {
            "code": f"src{next(n)}", "alias": "a", **repo}), {}),
        ("update_file_source", (SCOPE,), {"code": "shared", "alias": "b", **repo}),
        ("get_file_source_detail", (SCOPE, "shared"), {}),
        ("create_credential", Fresh(lambda _: (SCOPE,), lambda: {"name": f"cred{next(n)}"}),
         {"secret": secret}),
        ("update_credential", (SCOPE, credential), {"name": "shared", "secret": secret}),
        ("get_credential_detail", (SCOPE, credential), {}),
        ("generate_local_file_upload_url", (SCOPE, ["a.txt"]), {}),
        ("create_account", Fresh(lambda _: (other,), lambda: {"account": f"user{next(n)}"}),
         {"type": AccountType.LINUX}),
        ("update_account", (other, root), {"description": "the root"}),
        ("delete_account", Fresh(new_account), {}),
        ("get_account_password_encryption_metadata", (), {}),
        ("get_own_db_account_list", (SCOPE,), {}),
        ("get_job_template_list", (SCOPE,), {"length": 5}),
        ("iter_job_templates", (SCOPE,), {"page_size": 1}),
        ("get_step_instance_detail", (SCOPE, job, step), {}),
        ("fast_execute_sql", (SCOPE,), {"targets": targets, "db_account_id": mysql,
                                         "script_content": "select 1;", "task_name": "q"}),
        ("get_notify_config", (SCOPE,), {}),
        ("get_latest_service_version", (), {}),
        ("get_job_template_detail", (SCOPE, 100011), {}),
        ("create_job_plan", Fresh(lambda _: (other, 100011, f"from the template {next(n)}")),
         {}),  # (not in SCOPE; a template's plan names are unique: 409 ALREADY_EXISTS)
        ("get_user_authorized_scopes", (), {"length": 5}),
        ("get_script_task_context", (SCOPE, job, step), {"host_id": 1001}),
        ("get_file_task_context", (SCOPE, job, step), {"host_id": 1001, "mode": 1}),
    ]  # fmt: skip


LAUNCHES = (
    "fast_execute_script",
    "fast_transfer_file",
    "execute_job_plan",
    "push_config_file",
    "fast_execute_sql",
)
#: What the gateway alone serves (besides the v3 library and rules) ...
GATEWAY_ONLY = {
    "get_file_source_detail", "get_credential_detail", "update_account",
    "get_account_password_encryption_metadata", "get_step_instance_detail", "get_notify_config",
}  # fmt: skip
#: What the gateway v4 alone serves.
V4_ONLY = {
    "batch_get_job_instance_execute_object_log", "get_job_template_detail", "create_job_plan",
    "get_user_authorized_scopes", "get_script_task_context", "get_file_task_context",
    "failed_container_logs",
}  # fmt: skip
#: ... what the ESB jobv3 alone serves ...
JOBV3_ONLY = {"generate_local_file_upload_url", "get_latest_service_version"}
#: ... and the rest of the file sources, credentials, accounts and templates (not on v2).
V3_MANAGE = GATEWAY_ONLY | JOBV3_ONLY | {
    "create_file_source", "update_file_source", "create_credential", "update_credential",
    "create_account", "delete_account", "get_job_template_list", "iter_job_templates",
}  # fmt: skip
#: The script library's writes and lists, check_script and the rules: v3 only.
V3_LIBRARY = {
    "get_script_version_list", "get_public_script_version_list", "iter_script_versions",
    "create_script", "create_public_script", "create_script_version",
    "create_public_script_version", "update_script_basic", "update_public_script_basic",
    "update_script_version", "update_public_script_version", "publish_script_version",
    "publish_public_script_version", "disable_script_version", "disable_public_script_version",
    "delete_script", "delete_public_script", "delete_script_version",
    "delete_public_script_version", "check_script", "get_dangerous_rule_list",
    "create_dangerous_rule", "update_dangerous_rule", "enable_dangerous_rule",
    "disable_dangerous_rule", "delete_dangerous_rule",
}  # fmt: skip
#: Answers that carry what each side made anew (ids, times): compared by their type.
MADE = {
    "create_script", "create_public_script", "create_script_version",
    "create_public_script_version", "update_script_basic", "update_public_script_basic",
    "update_script_version", "update_public_script_version", "disable_script_version",
    "disable_public_script_version", "get_dangerous_rule_list", "create_dangerous_rule",
    "update_dangerous_rule", "create_file_source", "create_credential", "create_account",
    "update_account", "delete_account", "generate_local_file_upload_url", "create_job_plan",
    "get_file_source_detail", "get_credential_detail",
}  # fmt: skip


def _outcome(call):
    try:
        return ("ok", call())
    except Exception as exc:
        return ("raised", type(exc))


def _comparable(name: str, outcome):
    kind, value = outcome
    if kind == "ok" and name in LAUNCHES:
        name = value.job_instance_name  # (each launch is a new job; a default name has a time)
        return kind, type(value), name.rsplit("_", 1)[0]
    if kind == "ok" and name in MADE:
        return kind, type(value)
    if kind == "ok" and name == "get_job_instance_list":
        return kind, len(value.items) >= 1
    if kind == "ok" and name == "iter_job_instances":  # (each side launches jobs of its own)
        return kind, len(value) >= 1
    return outcome


@pytest.mark.parametrize("flavor", list(ApiFlavor), ids=lambda f: f.value)
def test_every_method_answers_as_the_async_client_does(served: Served, flavor: ApiFlavor) -> None:
    calls, v2 = _calls(served, flavor), flavor is ApiFlavor.ESB_V2
    # (as_user makes a view, whose calls tests/e2e/test_as_user.py compares)
    public = {
        n for n in dir(AsyncClient) if not n.startswith("_") and n not in ("aclose", "as_user")
    }
    assert {n for n, _, _ in calls} == {n for n in public if callable(getattr(AsyncClient, n))}
    options = {**CREDENTIALS, "flavor": flavor}

    def blocking_call(client, name, args, kwargs):
        if isinstance(args, Fresh):
            args, kwargs = args.make(client), {**kwargs, **args.keywords()}
        answer = getattr(client, name)(*args, **kwargs)
        return list(answer) if name.startswith("iter_") else answer

    with BkJobClient(served.url, **options) as client:
        blocking = [_outcome(functools.partial(blocking_call, client, *call)) for call in calls]

    async def main():
        async with AsyncClient(served.url, **options) as client:
            outcomes = []
            for name, args, kwargs in calls:
                if isinstance(args, Fresh):
                    kwargs = {**kwargs, **args.keywords()}
                    args = await anyio.to_thread.run_sync(args.make, client)
                try:
                    if name.startswith("iter_"):
                        answer = [x async for x in getattr(client, name)(*args, **kwargs)]
                    else:
                        answer = await getattr(client, name)(*args, **kwargs)
                    outcomes.append(("ok", answer))
                except Exception as exc:
                    outcomes.append(("raised", type(exc)))
            return outcomes

    awaited = anyio.run(main)
    for (name, _, _), got, want in zip(calls, blocking, awaited, strict=True):
        assert _comparable(name, got) == _comparable(name, want), name
    answered = {
        name for (name, _, _), (kind, _) in zip(calls, blocking, strict=True) if kind == "ok"
    }
    assert blocking[2] == ("raised", NotFoundError)
    assert blocking[[n for n, _, _ in calls].index("operate_step_instance")] == ("ok", None)
    # What each flavor has not (v3 history, logs and the script library are not on ESB v2; it
    # alone has the job log; ESB jobv3 has no step status), and the operation on an ended
    # job, refused on every flavor.
    not_on_v2 = {"get_job_instance_list", "iter_job_instances",
                 "get_script_version_detail", "get_job_instance_ip_log", "failed_host_logs", "host_logs",
                 "batch_get_job_instance_ip_log",
                 "get_public_script_version_detail", "get_cron_detail"} | V3_LIBRARY | V3_MANAGE  # fmt: skip
    only_v2 = {"get_job_instance_log", "get_script_detail", "get_own_db_account_list"}
    # (cron writes on what does not exist: NotFoundError everywhere; the detail not on v2)
    refused = {"operate_job_instance", "save_cron", "update_cron_status", "delete_cron"}
    refused |= not_on_v2 if v2 else only_v2
    if flavor is ApiFlavor.ESB_JOBV3:
        refused |= {"get_step_instance_status"} | GATEWAY_ONLY
    if flavor.is_gateway:
        refused |= JOBV3_ONLY
    if flavor is not ApiFlavor.APIGW_V4:
        refused |= V4_ONLY
    assert {name for name, _, _ in calls} - answered == refused
    assert [kind for kind, _ in blocking] == [kind for kind, _ in awaited]


def test_the_sync_poller_takes_jobs_launched_a_moment_ago(served: Served) -> None:
    ids = [served.job([StepPlan(hosts=1)]) for _ in range(3)]
    with BkJobClient(served.url, **CREDENTIALS) as client, Poller(client, policy=QUICK) as poller:
        with pytest.raises(TypeError, match="launched must be a bool"):
            poller.watch_job(SCOPE, ids[0], launched="yes")  # type: ignore[arg-type]
        watch = poller.watch_jobs(SCOPE, ids[:1], launched=True, timeout=10)
        watch.add(SCOPE, ids[1:2], launched=True)
        events = list(watch)
        assert {e.job_instance_id for e in events if isinstance(e, JobFinished)} == set(ids[:2])
        one = list(poller.watch_job(SCOPE, ids[2], launched=True, timeout=10))
        assert isinstance(one[-1], JobFinished)
        completed = poller.as_completed(SCOPE, ids[:1], launched=True, timeout=10)
        completed.add(SCOPE, ids[1:], launched=True)
        assert sorted(status.job.job_instance_id for status in completed) == sorted(ids)


def test_iteration_and_the_poller_through_plain_iterators(served: Served) -> None:
    ids = [served.job([StepPlan(hosts=2)]) for _ in range(3)]
    now = dt.datetime.now(dt.timezone.utc)
    with BkJobClient(served.url, **CREDENTIALS) as client, Poller(client, policy=QUICK) as poller:
        events = list(poller.watch_jobs(SCOPE, ids, timeout=10))
        assert {e.job_instance_id for e in events if isinstance(e, JobFinished)} == set(ids)
        assert sum(isinstance(e, HostTransition) for e in events) >= 6
        finished = [status.job.job_instance_id for status in poller.as_completed(SCOPE, ids)]
        assert sorted(finished) == sorted(ids)
        assert poller.wait_finished(SCOPE, ids[0], timeout=10).job.status is JobStatus.SUCCESS
        listed = client.iter_job_instances(
            SCOPE,
            created_from=now - dt.timedelta(minutes=5),
            created_to=now + dt.timedelta(minutes=5),
        )
        assert set(ids) <= {item.job_instance_id for item in listed}
        assert poller.statistics().requests >= 3


def test_a_wait_past_its_timeout_raises_and_the_poller_goes_on(served: Served) -> None:
    slow = served.job([StepPlan(hosts=[HostPlan(duration=60.0)])])
    quick = served.job([StepPlan(hosts=1)])
    with BkJobClient(served.url, **CREDENTIALS) as client, Poller(client, policy=QUICK) as poller:
        with pytest.raises(TimeoutError, match=r"0\.2 s"):
            poller.wait_finished(SCOPE, slow, timeout=0.2)
        watch = poller.watch_job(SCOPE, slow, timeout=0.3)
        with pytest.raises(TimeoutError):
            for _ in watch:
                pass
        watch.close()
        assert poller.wait_finished(SCOPE, quick, timeout=10).job.status.is_finished


def _connections_to(port: int) -> dict[int, str]:
    """Return this machine's TCP sockets connected to 127.0.0.1:``port``: local port -> state
    (``01`` established, ``06`` time-wait, ...), read from ``/proc/net/tcp``."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        if remote == f"0100007F:{port:04X}":
            found[int(local.split(":")[1], 16)] = state
    return found


# Untraced: 32 threads under coverage's tracer (4.1 s of CPU traced, 2.3 s untraced), and it
# runs none of the package's lines that other tests do not (coverage by test context).
@pytest.mark.untraced
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc/net/tcp")
def test_32_threads_share_one_client_its_pool_and_one_loop_thread(served: Served) -> None:
    job = served.job([StepPlan(hosts=1)])
    port = int(served.url.rsplit(":", 1)[1].split("/")[0])
    before = threading.active_count()
    seen: dict[int, str] = {}
    most, done = [0], threading.Event()
    # Sockets of earlier tests on this server (closing, or in TIME_WAIT) are not this client's.
    earlier = set(_connections_to(port))

    def sample() -> None:  # every connection the client opens, and the most open at once
        while not done.is_set():
            now = {p: state for p, state in _connections_to(port).items() if p not in earlier}
            seen.update(now)
            most[0] = max(most[0], sum(state == "01" for state in now.values()))
            time.sleep(0.002)

    # The first 32 calls meet before they send: the pool starts all its 32 threads (it starts
    # one only when none is idle, and on a loaded machine a few could serve every call).
    together = threading.Barrier(32)

    def call(i: int) -> Any:
        if i < 32:
            together.wait(timeout=60)
        return client.get_job_instance_status(SCOPE, job)

    sampler = threading.Thread(target=sample)
    with BkJobClient(served.url, connection_limit=8, **CREDENTIALS) as client:
        sampler.start()
        with ThreadPoolExecutor(32) as pool:
            statuses = list(pool.map(call, range(32 * 50)))
            during = threading.active_count()
        done.set()
        sampler.join()
        assert {s.job.job_instance_id for s in statuses} == {job}
        other = BkJobClient(served.url, **CREDENTIALS)
        other.get_job_instance_status(SCOPE, job)
        assert threading.active_count() == before + 1  # one loop thread for both clients
        other.close()
    assert during == before + 1 + 32 + 1  # (the loop thread, the pool's, the sampler)
    assert served.count("get_job_instance_status") >= 32 * 50
    # 1,600 calls from 32 threads over the one pool: at most its 8 connections at once, and
    # those same few reused (a loop or a session per call would open one per call).
    assert 1 <= most[0] <= 8
    assert len(seen) <= 8, sorted(seen)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_close_leaves_no_thread_and_no_file_descriptor(served: Served) -> None:
    job = served.job([StepPlan(hosts=1)])
    threads, fds = set(threading.enumerate()), _fds()
    for _ in range(3):
        with (
            BkJobClient(served.url, **CREDENTIALS) as client,
            Poller(client, policy=QUICK) as poller,
        ):
            client.get_job_instance_status(SCOPE, job)
            poller.wait_finished(SCOPE, job, timeout=10)
        with pytest.raises(RuntimeError, match="closed"):
            client.get_job_instance_status(SCOPE, job)
        with pytest.raises(RuntimeError, match="closed"):
            poller.wait_finished(SCOPE, job)
    assert set(threading.enumerate()) == threads
    # (the simulator, served in this process, closes its side once it reads the client's EOF)
    deadline = time.monotonic() + 5
    while _fds() > fds and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _fds() == fds


def test_closing_the_client_ends_its_watches(served: Served) -> None:
    slow = served.job([StepPlan(hosts=[HostPlan(duration=60.0)])])
    client = BkJobClient(served.url, **CREDENTIALS)
    poller = Poller(client)
    watch = poller.watch_job(SCOPE, slow)
    next(watch)  # the job's first transition
    client.close()
    assert poller.closed
    with pytest.raises(RuntimeError, match="closed"):
        next(watch)


def test_the_sync_api_in_a_running_loop_is_refused_at_once(served: Served) -> None:
    client = BkJobClient(served.url, **CREDENTIALS)

    async def view() -> None:  # an async Django view, say
        with pytest.raises(RuntimeError, match="use the async API"):
            client.get_job_instance_status(SCOPE, 1)
        with pytest.raises(RuntimeError, match="use the async API"):
            BkJobClient(served.url, **CREDENTIALS)

    anyio.run(view)
    client.close()


def test_bad_arguments_are_refused_in_the_calling_thread() -> None:
    with pytest.raises(TypeError, match="connection_limit"):
        BkJobClient("http://127.0.0.1:9", connection_limit="many", **CREDENTIALS)
    with BkJobClient("http://127.0.0.1:9", **CREDENTIALS) as client:
        with pytest.raises(TypeError, match=r"BkJobClient.fast_execute_script\(\) .*task_name"):
            client.fast_execute_script(SCOPE, name="x")
        with pytest.raises(TypeError, match=r"sync\.BkJobClient"):
            Poller(AsyncClient("http://127.0.0.1:9", **CREDENTIALS))  # type: ignore[arg-type]


# (Ctrl-C raises KeyboardInterrupt even when this was started with SIGINT ignored, as a shell
# starts a background job: Python then leaves SIGINT ignored.)
CHILD = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from bkjob_async import Scope
from bkjob_async.sync import BkJobClient, Poller
from bkjob_async.testing import StepPlan
url, slow, quick = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
scope = Scope.biz(2)
client = BkJobClient(url, app_code="a", app_secret="s", username="admin")
print("parent", client.get_job_instance_status(scope, quick).job.status.name, flush=True)
pid = os.fork()
if pid == 0:  # the child: the parent's client, a loop and a session of its own
    print("child", client.get_job_instance_status(scope, quick).job.status.name, flush=True)
    with Poller(client) as poller:
        print("waiting", flush=True)
        try:
            poller.wait_finished(scope, slow)
        except KeyboardInterrupt:
            stats = poller.statistics()  # the wait cancelled: the slow job no longer watched
            print("interrupted", stats.watches, stats.instances_watched, flush=True)
        print("after", poller.wait_finished(scope, quick, timeout=10).job.status.name, flush=True)
    client.close()
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("parent again", client.get_job_instance_status(scope, quick).job.status.name, flush=True)
client.close()
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_fork_and_an_interrupt_during_a_wait(served: Served) -> None:
    slow = served.job([StepPlan(hosts=[HostPlan(duration=60.0)])])
    quick = served.job([StepPlan(hosts=1)])
    served.wait_ended(quick)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, served.url, str(slow), str(quick)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    lines, child = [], 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            if line.strip() == "waiting":
                break
        found = subprocess.check_output(["pgrep", "-P", str(proc.pid)], text=True)
        child = int(found.split()[0])
        os.kill(child, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # (failed: no process left behind for the tests after)
            if child:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            proc.kill()
            proc.communicate()
    lines += out.split()
    assert proc.returncode == 0, err
    assert lines[:3] == ["parent SUCCESS", "child SUCCESS", "waiting"]
    assert " ".join(lines[3:]) == "interrupted 0 0 after SUCCESS parent again SUCCESS"


def test_an_interrupt_before_the_loop_takes_the_wait_leaves_nothing_waiting(
    served: Served,
) -> None:
    """Ctrl-C while the loop thread is busy and has not taken the wait yet (as on a loaded
    machine): the wait never starts, its job is not watched after it."""
    slow = served.job([StepPlan(hosts=[HostPlan(duration=60.0)])])
    quick = served.job([StepPlan(hosts=1)])
    main = threading.main_thread()
    assert threading.current_thread() is main
    assert main.ident is not None
    interrupted = threading.Event()

    def busy() -> None:  # in the loop thread, holding it: interrupt the wait as it starts
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            names = {f.name for f in traceback.extract_stack(sys._current_frames()[main.ident])}
            if {"wait_finished", "start_task_soon"} <= names:
                interrupted.set()
                signal.pthread_kill(main.ident, signal.SIGINT)
                return
            time.sleep(0.001)

    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with (
            BkJobClient(served.url, **CREDENTIALS) as client,
            Poller(client, policy=QUICK) as poller,
        ):
            poller._portal.start_task_soon(busy)
            with pytest.raises(KeyboardInterrupt):
                poller.wait_finished(SCOPE, slow)
            assert interrupted.is_set()
            assert poller.wait_finished(SCOPE, quick, timeout=10).job.status is JobStatus.SUCCESS
            stats = poller.statistics()
            assert (stats.watches, stats.instances_watched) == (0, 0)
    finally:
        signal.signal(signal.SIGINT, handler)


def test_every_public_method_of_the_async_client_is_here_with_its_signature() -> None:
    import inspect

    assert inspect.signature(BkJobClient) == inspect.signature(AsyncClient)  # (the constructor)
    public = [n for n in dir(AsyncClient) if not n.startswith("_") and n != "aclose"]
    methods = [n for n in public if inspect.isfunction(getattr(AsyncClient, n))]
    assert len(methods) >= 20
    for name in methods:
        mine = getattr(BkJobClient, name, None)
        assert mine is not None, f"bkjob_async.sync.BkJobClient has no {name}"
        ours, theirs = inspect.signature(mine), inspect.signature(getattr(AsyncClient, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        if inspect.iscoroutinefunction(getattr(AsyncClient, name)):  # (a generated twin)
            assert mine.__doc__ == getattr(AsyncClient, name).__doc__, name
        else:  # (written by hand: ``as_user``)
            first = inspect.getdoc(getattr(AsyncClient, name)).splitlines()[0]
            assert inspect.getdoc(mine).splitlines()[0] == first, name


def test_the_paging_methods_say_they_return_plain_iterators() -> None:
    import inspect

    paging = [n for n in dir(AsyncClient) if n.startswith("iter_")]
    assert len(paging) >= 7
    for name in paging:
        theirs = inspect.signature(getattr(AsyncClient, name)).return_annotation
        ours = inspect.signature(getattr(BkJobClient, name)).return_annotation
        assert theirs.startswith("AsyncIterator["), name
        assert ours == theirs.replace("AsyncIterator[", "Iterator[", 1), name
        assert getattr(BkJobClient, name).__annotations__["return"] == ours


def test_the_module_docstring_example_runs(served: Served) -> None:
    import bkjob_async.sync

    after = bkjob_async.sync.__doc__.split("::\n")[1].splitlines()
    example = "\n".join(itertools.takewhile(lambda line: not line or line[0] == " ", after))
    names: dict[str, Any] = {"url": served.url, "secret": CREDENTIALS["app_secret"]}
    exec(textwrap.dedent(example), names)
    assert names["status"].job.status is JobStatus.SUCCESS


def test_a_single_job_watch_raises_its_error_after_its_events(served: Served) -> None:
    with BkJobClient(served.url, **CREDENTIALS) as client, Poller(client, policy=QUICK) as poller:
        with pytest.raises(NotFoundError):
            list(poller.watch_job(SCOPE, 99999999, timeout=10))
        ids = [served.job([StepPlan(hosts=2)]), 99999999]
        events = list(poller.watch_jobs(SCOPE, ids, timeout=10))
    assert [type(e).__name__ for e in events if e.job_instance_id == ids[1]] == ["WatchFailed"]
    assert isinstance(
        events[-1] if events[-1].job_instance_id == ids[0] else events[-2], JobFinished
    )


def test_the_failed_hosts_and_containers_of_ended_jobs_blocking(served: Served) -> None:
    pods = KubeContainerFilter(["BCS-K8S-00001"], container_names=["app"])
    good, bad = served.portal.call(lambda: served.sim.containers(pods))
    fails = HostPlan(outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, exit_code=5, bk_host_id=bad)
    in_pods = served.job([StepPlan(hosts=[HostPlan(bk_host_id=good), fails])])
    on_hosts = served.job([StepPlan(hosts=[HostPlan(bk_host_id=1001), FAILS])])
    for job in (in_pods, on_hosts):
        served.wait_ended(job)
    with BkJobClient(served.url, flavor="apigw-v4", **CREDENTIALS) as client:
        ended = [client.get_job_instance_status(SCOPE, job) for job in (in_pods, on_hosts)]
        (container,) = failed_containers(client, SCOPE, ended)
        (host,) = failed_hosts(client, SCOPE, ended)
        logs = client.failed_container_logs(SCOPE, in_pods, status=ended[0])
    assert (container.job_instance_id, container.container.id) == (in_pods, bad)
    assert (container.status, container.exit_code) == (HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, 5)
    assert host.job_instance_id == on_hosts
    (step,) = logs
    assert [log.execute_object.container.id for log in logs[step]] == [bad]  # type: ignore[union-attr]


NEVER_CLOSED = """
import sys
from bkjob_async import Scope
from bkjob_async.sync import BkJobClient, Poller
client = BkJobClient(sys.argv[1], app_code="a", app_secret="s", username="admin")
poller = Poller(client)  # neither closed, nor left by ``with``: the watch below still polls
watch = poller.watch_jobs(Scope.biz(2), [int(sys.argv[2])])
print("leaving", flush=True)
"""


def test_a_program_that_never_closes_its_poller_still_exits(served: Served) -> None:
    slow = served.job([StepPlan(hosts=[HostPlan(duration=60.0)])])
    out = subprocess.run(
        [sys.executable, "-c", NEVER_CLOSED, served.url, str(slow)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["leaving"]
