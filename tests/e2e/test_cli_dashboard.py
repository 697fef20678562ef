"""``bkjob-async dashboard``: its refusals, and a watch of real jobs served until Ctrl-C.

The shell blocks of ``docs/howto/dashboard.md`` that serve until Ctrl-C run here: a watch of
job ids with ``--allow-operations`` and the token from ``$BKJOB_DASHBOARD_TOKEN``.
"""

from __future__ import annotations

import aiohttp
import anyio
import pytest

from bkjob_async.config import Scope
from bkjob_async.testing import BkJobSimulator, StepPlan

from ..cli_run import APP_SECRET, make_env, run, serving


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dashboard"], "give the JOB_IDs to watch, or --simulate"),
        (["dashboard", "1", "--simulate"], "give the JOB_IDs to watch, or --simulate"),
        (["dashboard", "--simulate", "--allow-operations"], "token of 16 characters"),
        (["dashboard", "--simulate", "--token-file", "x"], "--token-file is for"),
        (["dashboard", "1", "--redis", "redis://127.0.0.1:1"], "show a cluster (read only)"),
        (["dashboard", "--cluster", "prod", "--allow-operations"], "show a cluster (read only)"),
    ],
)
async def test_refusals_before_anything_is_served(argv: list[str], message: str) -> None:
    result = await run(argv)
    assert result.status == 2
    assert message in result.err


@pytest.mark.sim(host_duration=(20.0, 20.0))
async def test_it_serves_a_watch_of_real_jobs_until_interrupted(sim: BkJobSimulator) -> None:
    ids = [sim.create_job(Scope.biz(2), [StepPlan(hosts=3)], name=f"job {n}") for n in range(4)]
    token = "t" * 20
    env = make_env(sim.url, BKJOB_DASHBOARD_TOKEN=token)
    argv = ["dashboard", *map(str, ids), "--port", "0", "--allow-operations"]
    async with serving(argv, env) as dashboard, aiohttp.ClientSession() as http:
        with anyio.fail_after(20):
            while True:
                async with http.get(dashboard.url + "api/overview") as answer:
                    body = await answer.json()
                if body["jobs"]["running"] == 4:
                    break
                await anyio.sleep(0.1)
        async with http.get(dashboard.url + f"job/biz:2/{ids[0]}") as answer:
            page = await answer.text()
        assert 'data-operations="on"' in page
    assert dashboard.status == 0
    for secret in (APP_SECRET, token):
        assert secret not in dashboard.out.getvalue() + dashboard.err.getvalue() + page


def test_a_second_signal_ends_it_without_a_traceback() -> None:
    """Ctrl-C twice (or SIGTERM twice, as ``timeout`` and a supervisor send) while it starts or
    serves: exit 130, or 0 when the first signal's orderly stop ended it before the second
    came (the dashboard's documented end), or the signal's own end when the second came after
    its handler was removed at the very end; never an exception group's traceback."""
    import os
    import signal
    import subprocess
    import sys
    import time

    for wait in (0.3, 2.0):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bkjob_async.cli",
                "dashboard",
                "--simulate",
                "--jobs",
                "3",
                "--hosts",
                "1",
                "--port",
                "0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        time.sleep(wait)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, 130, -signal.SIGTERM), err
        assert "Traceback" not in err, err
        assert "ExceptionGroup" not in err, err


async def test_a_bad_worker_id_is_one_line() -> None:
    result = await run(
        ["worker", "--worker-id", "bad id!", "--redis", "redis://127.0.0.1:1", "--cluster", "x"],
        env=make_env("http://127.0.0.1:1"),
    )
    assert result.status == 2
    assert result.err.strip().splitlines() == [
        "bkjob-async worker: --worker-id must be 1-100 characters of letters, digits, '_', '.' "
        "or '-', got 'bad id!'"
    ]
