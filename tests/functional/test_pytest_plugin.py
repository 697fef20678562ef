"""The pytest plugin (``bkjob_async.testing.pytest_plugin``), as a user's project sees it.

Each test writes a user's test file and runs pytest on it (``pytester``), with nothing but what
the package installs: the plugin comes from the ``pytest11`` entry point, the async tests run
under anyio's plugin, on asyncio and on trio.

Most runs are in this process (``runpytest_inprocess``: a new session and plugin manager, the
entry points loaded again, the modules it imported dropped after): the plugin keeps no state of
the process, and a child's start (an interpreter, pytest and every installed plugin: about 2 s of
CPU) showed nothing more. Two runs stay in a child process, for what only a fresh interpreter
shows: the entry point's listing (the plugin imported by pytest alone, nothing of ours imported
before it), and the how-to's examples, whose Django one configures Django's settings, which a
process can do once.
"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HAS_TRIO = importlib.util.find_spec("trio") is not None
DOCS = Path(__file__).parents[2] / "docs" / "howto" / "testing-with-the-plugin.md"


def _run(
    pytester: pytest.Pytester, source: str, *args: str, fresh: bool = False
) -> pytest.RunResult:
    """Run pytest on ``source`` as a user's test file (``fresh``: in a child process)."""
    pytester.makepyfile(test_user=textwrap.dedent(source))
    # No ini of the project: a user's own. -p no:randomly etc. are not needed.
    runpytest = pytester.runpytest_subprocess if fresh else pytester.runpytest_inprocess
    return runpytest("-q", "-W", "error", "-p", "no:cacheprovider", *args)


def test_the_entry_point_gives_the_fixtures_and_the_marker(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        import pytest

        def test_listed(request):
            names = request.config.pluginmanager.list_name_plugin()
            assert any(plugin.__name__ == "bkjob_async.testing.pytest_plugin"
                       for _, plugin in names if plugin is not None)
        """,
        "--fixtures",
        fresh=True,
    )
    out = result.stdout.str()
    for name in ("bkjob_simulator", "bkjob_server", "bkjob_client", "bkjob_scope"):
        assert name in out
    markers = pytester.runpytest_inprocess("--markers").stdout.str()
    assert "@pytest.mark.bkjob(jobs=0, hosts=2, faults=()" in markers


#: The head of a test module run on every anyio backend there is (trio when installed).
ON_EVERY_BACKEND = f"""
    import pytest

    pytestmark = pytest.mark.anyio

    @pytest.fixture(params=["asyncio", "trio"] if {HAS_TRIO} else ["asyncio"])
    def anyio_backend(request):
        return request.param
"""


def test_jobs_hosts_and_faults_from_the_marker_in_memory(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        ON_EVERY_BACKEND
        + """
    from bkjob_async import ApiError, RetryPolicy
    from bkjob_async.testing import Fault

    @pytest.mark.bkjob(jobs=3, hosts=4)
    async def test_three_jobs(bkjob_simulator, bkjob_client, bkjob_scope, anyio_backend):
        assert len(bkjob_simulator.job_ids()) == 3
        for job_id in bkjob_simulator.job_ids():
            status = await bkjob_client.get_job_instance_status(bkjob_scope, job_id)
            assert status.job.job_instance_id == job_id
            assert len(status.steps[0].hosts) == 4
        assert bkjob_simulator.request_count("get_job_instance_status") == 3

    @pytest.mark.bkjob(jobs=1, faults=[Fault.http_status(503), Fault.http_status(503)])
    async def test_faults_are_retried(bkjob_simulator, bkjob_client, bkjob_scope):
        job_id = bkjob_simulator.job_ids()[0]
        await bkjob_client.get_job_instance_status(bkjob_scope, job_id)
        assert bkjob_simulator.request_count("get_job_instance_status") == 3

    @pytest.mark.bkjob(
        jobs=1,
        scope=7,
        faults=[{"fault": Fault.business_error(1240002), "api": "get_job_instance_status",
                 "times": None}],
    )
    async def test_a_fault_for_every_request(bkjob_simulator, bkjob_client, bkjob_scope):
        assert bkjob_scope.id == 7
        with pytest.raises(ApiError):
            await bkjob_client.get_job_instance_status(bkjob_scope, bkjob_simulator.job_ids()[0])

    async def test_no_marker_no_jobs(bkjob_simulator):
        assert bkjob_simulator.job_ids() == []
    """,
    )
    backends = 2 if HAS_TRIO else 1
    result.assert_outcomes(passed=4 * backends)


def test_bkjob_server_is_http_on_loopback_and_skips_on_trio(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        ON_EVERY_BACKEND
        + """
    @pytest.mark.bkjob(jobs=2, hosts=1)
    async def test_over_http(bkjob_server, bkjob_client, bkjob_scope):
        assert bkjob_server.url.startswith("http://127.0.0.1:")
        assert not bkjob_server.url.endswith(":0")
        status = await bkjob_client.get_job_instance_status(bkjob_scope, bkjob_server.job_ids()[1])
        assert status.job.job_instance_id == bkjob_server.job_ids()[1]
        assert bkjob_server.statistics().requests >= 1
    """,
        "-rs",
    )
    if HAS_TRIO:
        result.assert_outcomes(passed=1, skipped=1)
        result.stdout.fnmatch_lines(["*bkjob_client over HTTP (bkjob_server) runs on asyncio*"])
    else:
        result.assert_outcomes(passed=1)


def test_a_plain_sync_test_calls_bkjob_server_with_a_blocking_client(
    pytester: pytest.Pytester,
) -> None:
    """The server answers from its own thread while the test's thread blocks in a call."""
    result = _run(
        pytester,
        """
    import threading
    import time

    import pytest
    from bkjob_async import NotFoundError, PollPolicy, sync
    from bkjob_async.testing import Fault

    @pytest.mark.bkjob(jobs=2, hosts=3, faults=[Fault.http_status(503)])
    def test_blocking(bkjob_server, bkjob_sync_client, bkjob_scope):
        started = time.monotonic()
        for job_id in bkjob_server.job_ids():  # the 503 is retried
            status = bkjob_sync_client.get_job_instance_status(bkjob_scope, job_id)
            assert len(status.steps[0].hosts) == 3
        with pytest.raises(NotFoundError):
            bkjob_sync_client.get_job_instance_status(bkjob_scope, 999999)
        assert time.monotonic() - started < 10.0
        assert bkjob_server.statistics().requests >= 4

    # (hosts of 50-200 ms and a quick policy: the job's end read in 0.5 s, not the 1-3 s
    # hosts and the 5 s latency bound the defaults would wait for)
    @pytest.mark.bkjob(jobs=1, host_duration=(0.05, 0.2))
    def test_own_client_and_poller(bkjob_server, bkjob_scope):
        (job_id,) = bkjob_server.job_ids()
        quick = PollPolicy(interval=0.1, max_interval=0.5)
        with sync.BkJobClient(bkjob_server.url, app_code="a", app_secret="s", username="u") as c:
            with sync.Poller(c, policy=quick) as poller:
                final = poller.wait_finished(bkjob_scope, job_id, timeout=30)
        assert final.job.status.is_finished
        assert threading.current_thread() is threading.main_thread()

    @pytest.mark.bkjob(virtual_time=True)
    def test_no_sync_server_on_virtual_time(bkjob_server):
        pass
    """,
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*virtual_time=True needs an anyio test*"])


def test_virtual_time_from_the_marker(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
    import time
    import asyncio
    import pytest
    from bkjob_async import Poller
    from bkjob_async.testing import StepPlan, VirtualTimeLoop

    pytestmark = pytest.mark.anyio

    @pytest.mark.bkjob(jobs=1, hosts=3, virtual_time=True, host_duration=(600.0, 900.0))
    async def test_a_quarter_hour_in_a_moment(bkjob_simulator, bkjob_client, bkjob_scope):
        assert isinstance(asyncio.get_running_loop(), VirtualTimeLoop)
        started = time.monotonic()
        async with Poller(bkjob_client) as poller:
            final = await poller.wait_finished(bkjob_scope, bkjob_simulator.job_ids()[0])
        assert final.job.status.is_finished
        assert asyncio.get_running_loop().time() >= 600.0
        assert time.monotonic() - started < 30.0

    @pytest.mark.bkjob(virtual_time=True)
    async def test_no_server_on_virtual_time(bkjob_server):
        pass
    """,
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*virtual_time=True needs an anyio test*"])


def _python_blocks(text: str) -> list[str]:
    blocks, inside, lines = [], False, []
    for line in text.splitlines():
        if line.strip() == "```python":
            inside, lines = True, []
        elif line.strip() == "```" and inside:
            inside = False
            blocks.append("\n".join(lines) + "\n")
        elif inside:
            lines.append(line)
    return blocks


def test_the_docs_examples_run_as_written(pytester: pytest.Pytester) -> None:
    """The how-to's test files (each block after ``readme-test: skip (a pytest test file``)
    pass as they are: the first (async) on asyncio and trio (anyio's default backends), a
    plain sync one, a Django one, and the virtual-time one on asyncio."""
    text = DOCS.read_text()
    marker = "<!-- readme-test: skip (a pytest test file:"
    examples = [_python_blocks(part)[0] for part in text.split(marker)[1:]]
    assert len(examples) == 4
    first = [line for line in examples[0].splitlines() if line.strip()]
    assert len(first) <= 10  # "a user's test in ten lines"
    assert "async def" not in examples[1] + examples[2]
    pytester.makepyfile(
        test_example=examples[0],
        test_sync=examples[1],
        test_django=examples[2],
        test_virtual=examples[3],
    )
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=5 if HAS_TRIO else 4)
    if HAS_TRIO:
        result.stdout.fnmatch_lines(["*test_example.py::test_my_status_check?trio? PASSED*"])
    result.stdout.fnmatch_lines(
        [
            "*test_django.py::test_the_view PASSED*",
            "*test_sync.py::test_blocking_status PASSED*",
            "*test_virtual.py::test_the_deploy_ends?virtual? PASSED*",
        ]
    )
