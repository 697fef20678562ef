"""``docs/howto/django.md`` and ``docs/howto/celery.md`` run as printed, in real Django and Celery.

The code is taken from the pages themselves (each Python block's first line names its file), so
a page cannot drift from what runs. Django: a throwaway project in ``tmp_path`` made of the
page's files, in a child process; its view called through Django's test ``Client``, its
management command through ``call_command``. Celery: a worker (prefork, concurrency 2) with a
real ``redis-server`` as broker and result store runs the page's tasks; the page's caller
chains them. Both against a simulator served on 127.0.0.1 port 0 from a thread of this process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal

from bkjob_async.models.enums import HostStatus
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan

from ..child import Child
from .conftest import SCOPE

pytest.importorskip("django")
pytest.importorskip("celery")

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
HEADER = re.compile(r"# (?P<add>add to )?(?P<path>[\w/]+\.py)\n")
ENV = {
    "BKJOB_APP_CODE": "doc-app",
    "BKJOB_APP_SECRET": "doc-secret-s3cr3t",
    "BKJOB_USERNAME": "admin",
    "BKJOB_BIZ_ID": "2",
}


def page_files(page: str) -> dict[str, tuple[bool, str]]:
    """Return the page's Python blocks by the file their first line names: (added to the
    file rather than the whole of it, the code)."""
    text = (ROOT / "docs" / "howto" / page).read_text(encoding="utf-8")
    files = {}
    for match in BLOCK.finditer(text):
        header = HEADER.match(match["body"])
        assert header is not None, f"{page}: a block does not say which file it is"
        files[header["path"]] = (header["add"] is not None, match["body"])
    return files


def write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    for parent in target.relative_to(root).parents:  # packages all the way down
        init = root / parent / "__init__.py"
        if parent != Path(".") and not init.exists():
            init.write_text("")


class Served:
    """A simulator on 127.0.0.1, run by a loop in a thread of its own."""

    def __init__(self, portal, sim: BkJobSimulator) -> None:
        self.portal, self.sim, self.url = portal, sim, sim.url

    def job(self, steps) -> int:
        return self.portal.call(lambda: self.sim.create_job(SCOPE, steps))

    def status(self, job: int):
        return self.portal.call(lambda: self.sim.job(job).status)


@pytest.fixture
def served() -> Iterator[Served]:
    with start_blocking_portal() as portal:
        sim = BkJobSimulator(host_duration=(0.05, 0.2), host_start_delay=0.0)
        portal.call(sim.__aenter__)
        try:
            yield Served(portal, sim)
        finally:
            portal.call(sim.__aexit__, None, None, None)


# --- Django ------------------------------------------------------------------------------------

SETTINGS = """\
SECRET_KEY = "not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "jobs"]
ROOT_URLCONF = "mysite.urls"
MIDDLEWARE = ["django.middleware.csrf.CsrfViewMiddleware"]
DATABASES = {}
USE_TZ = True
"""

PROJECT_URLS = """\
from django.urls import include, path

urlpatterns = [path("", include("jobs.urls"))]
"""

# The driver: the page's view through the test Client, its command through call_command.
DJANGO_DRIVER = """\
import io, json, os, sys
import django
from django.core.management import call_command
from django.core.management.base import CommandError

os.environ["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
django.setup()
from django.test import Client

failed_job = int(sys.argv[1])
web = Client(enforce_csrf_checks=True)  # as a program's POST is: no CSRF token
launched = web.post(
    "/jobs/", {"script": "echo hello", "host_ids": [101, 102], "name": "deploy"},
    content_type="application/json",
)
job = launched.json()["job_instance_id"]
out = io.StringIO()
call_command("watch_job", job, "--timeout", "30", stdout=out)
seen = web.get(f"/jobs/{job}/")
unknown = web.get("/jobs/987654321/")
refused = web.post(
    "/jobs/", {"script": "echo", "host_ids": []}, content_type="application/json"
)
try:
    call_command("watch_job", failed_job, stdout=io.StringIO())
    failure = None
except CommandError as exc:
    failure = str(exc)
print(json.dumps({
    "launched": launched.status_code, "job": job, "watched": out.getvalue().splitlines(),
    "seen": seen.status_code, "status": seen.json(), "refused": refused.status_code,
    "failure": failure, "unknown": unknown.status_code,
}))
"""


def test_the_django_page_runs_in_a_django_project(served: Served, tmp_path: Path) -> None:
    files = page_files("django.md")
    assert sorted(files) == [
        "jobs/bkjob.py",
        "jobs/management/commands/watch_job.py",
        "jobs/urls.py",
        "jobs/views.py",
        "mysite/settings.py",
    ]
    for path, (added, code) in files.items():
        write(tmp_path, path, SETTINGS + code if added else code)
    write(tmp_path, "mysite/urls.py", PROJECT_URLS)
    write(tmp_path, "driver.py", DJANGO_DRIVER)
    bad = HostPlan(outcome=HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, exit_code=1)
    failed = served.job([StepPlan(hosts=[HostPlan(), bad])])
    done = subprocess.run(
        [sys.executable, "-W", "error", "driver.py", str(failed)],
        cwd=tmp_path,
        env={**_environ(), **ENV, "BKJOB_URL": served.url, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=45,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["launched"] == 201
    job = result["job"]
    assert served.status(job).name == "SUCCESS"
    # The command printed each host's changes, then the end, and returned.
    assert result["watched"][-1] == f"job {job}: SUCCESS"
    hosts = [line for line in result["watched"][:-1] if line.endswith(": SUCCESS")]
    assert len(hosts) == 2, result["watched"]
    assert result["seen"] == 200
    assert result["status"]["status"] == "SUCCESS"
    assert result["status"]["finished"] is True
    assert [h["status"] for h in result["status"]["hosts"]] == ["SUCCESS", "SUCCESS"]
    assert result["refused"] == 400  # no hosts: refused before sending, the view says why
    assert result["unknown"] == 404  # an unknown job is not a server error
    assert result["failure"] == f"job {failed} ended FAIL"
    assert ENV["BKJOB_APP_SECRET"] not in done.stdout + done.stderr
    assert "nclosed" not in done.stderr  # (no session left open at exit)


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("BKJOB_", "DJANGO_"))}


# --- Celery ------------------------------------------------------------------------------------

# The test's own caller, beside the page's: four chains at once (both children get work), a
# wait cut by its soft time limit, and a chain after it (the worker goes on).
CELERY_DRIVER = """\
import json, sys
from celery import chain, group
from tasks import launch_script, wait_job

slow = int(sys.argv[1])
runs = group(
    chain(launch_script.s(f"echo {n}", [200 + n]), wait_job.s()) for n in range(4)
).delay()
ends = runs.get(timeout=40)
cut = wait_job.apply_async((slow,), soft_time_limit=1)
try:
    cut.get(timeout=30)
    cut_error = None
except Exception as exc:
    cut_error = type(exc).__name__
after = chain(launch_script.s("echo after", [300]), wait_job.s()).delay().get(timeout=30)
print(json.dumps({"ends": ends, "cut": cut_error, "after": after}))
"""


def _log_lines(worker: Child, pattern: str, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in list(worker.err) if re.search(pattern, line)]
        if found:
            return found
        if not worker.alive:
            break
        time.sleep(0.05)
    raise worker.failure(f"the worker never logged {pattern!r}")


@pytest.mark.timeout(180)  # a worker's start (30 s at most), then 40 s and 50 s of waits
def test_the_celery_page_runs_in_a_prefork_worker(
    served: Served, tmp_path: Path, redis_server
) -> None:
    files = page_files("celery.md")
    # (rollout_task.py is a program of its own: test_docs.py runs it)
    assert sorted(files) == ["launch_and_wait.py", "rollout_task.py", "tasks.py"]
    for path, (_, code) in files.items():
        write(tmp_path, path, code)
    write(tmp_path, "driver.py", CELERY_DRIVER)
    slow = served.job([StepPlan(hosts=[HostPlan(duration=300.0)])])
    env = {
        **ENV,
        "BKJOB_URL": served.url,
        "CELERY_BROKER_URL": redis_server.url,
        "CELERY_RESULT_BACKEND": redis_server.url,
        "PYTHONPATH": str(tmp_path),
    }
    argv = ["-m", "celery", "-A", "tasks", "worker", "--pool=prefork", "--concurrency=2"]
    argv += ["--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with Child(argv, env=env, cwd=tmp_path) as worker:
        _log_lines(worker, r"\bready\.")
        shown = subprocess.run(
            [sys.executable, "launch_and_wait.py"],
            cwd=tmp_path,
            env={**_environ(), **env},
            capture_output=True,
            text=True,
            timeout=40,
        )
        assert shown.returncode == 0, shown.stderr + "\n".join(worker.err[-30:])
        printed = shown.stdout.strip()
        assert re.fullmatch(
            r"\{'job_instance_id': \d+, 'status': 'SUCCESS', 'failed_hosts': \[\]\}", printed
        ), printed
        ours = subprocess.run(
            [sys.executable, "driver.py", str(slow)],
            cwd=tmp_path,
            env={**_environ(), **env},
            capture_output=True,
            text=True,
            timeout=50,
        )
        assert ours.returncode == 0, ours.stderr + "\n".join(worker.err[-30:])
        result = json.loads(ours.stdout.splitlines()[-1])
        worker.signal(signal.SIGTERM)  # a warm shutdown: the children close their clients
        assert worker.wait(30) == 0, "\n".join(worker.err[-30:])
    assert [end["status"] for end in result["ends"]] == ["SUCCESS"] * 4
    assert result["cut"] == "SoftTimeLimitExceeded"
    assert result["after"]["status"] == "SUCCESS"
    assert served.status(slow).name == "RUNNING"  # (cut waits do not stop the job itself)
    # Both forked children ran the page's tasks, each with the client made in the parent.
    log = "\n".join(worker.err)
    ran = set(re.findall(r"ForkPoolWorker-(\d+)\].*Task tasks\.\w+\[.*\] succeeded", log))
    assert len(ran) == 2, log[-3000:]
    assert ENV["BKJOB_APP_SECRET"] not in log
    assert "nclosed" not in log
