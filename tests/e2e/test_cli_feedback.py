"""Issue 12, point 1: feedback at once, ``--timeout`` everywhere, a clear line when bk-job is silent.

A "silent" bk-job accepts connections and never answers (the case that left ``status`` and
``watch`` quiet for 261 s). Every command that talks to bk-job must say so within its
``--timeout``; the live view must be drawn, saying "connecting to URL", before any answer.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import anyio.abc
import pytest

from bkjob_async.testing import BkJobSimulator

from ..cli_run import SIM, cli_command, make_env, run, subprocess_env
from ..load import deadline, slowdown

pytestmark = pytest.mark.sim(**SIM)


@pytest.fixture
async def silent_url() -> AsyncIterator[str]:
    """Return the URL of a server that accepts connections and never answers."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def hold(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await anyio.sleep_forever()

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, hold)
        yield f"http://127.0.0.1:{port}"
        tg.cancel_scope.cancel()


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "10001"],
        ["watch", "10001"],
        ["operate", "10001", "confirm"],
        ["logs", "10001"],
        ["list"],
        ["launch", "script", "--host-id", "1001", "--content", "echo hi"],
    ],
)
async def test_a_silent_server_is_reported_within_the_timeout(silent_url, argv) -> None:
    before = slowdown()
    started = time.monotonic()
    result = await run([*argv, "--timeout", "1"], make_env(silent_url))
    elapsed = time.monotonic() - started
    allowed = deadline(4.0, before, slowdown())  # (4 s with a core to spare)
    assert result.status == 2, result.err
    assert f"no answer from {silent_url}" in result.err
    assert "within 1 s (--timeout)" in result.err
    assert "BKJOB_URL" in result.err  # what to check
    assert elapsed < allowed, (elapsed, allowed)
    assert result.out == ""  # JSON mode (piped) prints nothing that did not happen


async def test_the_live_view_says_connecting_before_any_answer(silent_url) -> None:
    result = await run(["watch", "10001", "--timeout", "1"], make_env(silent_url), tty=True)
    assert result.status == 2
    assert f"connecting to {silent_url}" in result.text
    assert "no answer from" in result.err


async def test_status_on_a_terminal_says_connecting(silent_url) -> None:
    result = await run(["status", "10001", "--timeout", "0.5"], make_env(silent_url), tty=True)
    assert result.status == 2
    assert "connecting to" in result.text


async def test_silent_server_through_a_pipe(silent_url) -> None:
    argv = [*cli_command(), "watch", "10001", "--timeout", "1"]
    before = slowdown()
    started = time.monotonic()
    with anyio.fail_after(50):  # (a hang; the promise is checked below)
        done = await anyio.run_process(argv, env=subprocess_env(silent_url), check=False)
    assert done.returncode == 2
    assert done.stdout == b""
    assert b"no answer from" in done.stderr
    assert b"Traceback" not in done.stderr
    elapsed = time.monotonic() - started
    # 1 s of waiting plus interpreter start-up: 10 s with a core to spare, scaled under load.
    allowed = deadline(10.0, before, slowdown())
    assert elapsed < allowed, (elapsed, allowed)


async def test_timeout_and_language_are_checked(sim: BkJobSimulator, env) -> None:
    for bad in (["--timeout", "0"], ["--timeout", "x"]):  # a bad value: one line
        result = await run(["status", "10001", *bad], env)
        assert result.status == 2
        assert result.err.endswith("see 'bkjob-async status --help'\n")
    result = await run(["status", "10001", "--language", "fr"], env)  # a choice: the usage
    assert result.status == 2
    assert "usage:" in result.err


async def test_bk_job_messages_in_the_chosen_language(sim: BkJobSimulator, env) -> None:
    english = await run(["status", "99999"], env)
    assert english.status == 1
    assert english.out.isascii()
    chinese = await run(["status", "99999", "--language", "zh"], env)
    assert chinese.status == 1
    assert not chinese.out.isascii()
    from_env = await run(["status", "99999"], {**env, "BKJOB_LANGUAGE": "zh"})
    assert not from_env.out.isascii()


@pytest.mark.parametrize("command", ["launch", "push-config"])
async def test_a_launch_without_an_answer_says_the_job_may_have_started(
    silent_url, command, tmp_path
) -> None:
    conf = tmp_path / "app.conf"
    conf.write_text("a=1\n")
    argv = {
        "launch": ["launch", "script", "--host-id", "1001", "--content", "echo hi"],
        "push-config": ["push-config", "--host-id", "1001", "--dest", "/etc/", str(conf)],
    }[command]
    result = await run([*argv, "--timeout", "1"], make_env(silent_url))
    assert result.status == 2, result.err
    assert "the job may have started anyway" in result.err
    assert result.out == ""
