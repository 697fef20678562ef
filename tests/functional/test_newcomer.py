"""What cost a newcomer time: errors that name internals, two rule sets, files left by a
refusal, value errors buried under the usage. Each is refused at once, in the user's terms,
before anything is sent (the environment points at a port nothing listens on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bkjob_async import BkJobClient, PollPolicy, Scope

from ..cli_run import make_env, run

ENV = {**make_env("http://127.0.0.1:9"), "BKJOB_SCOPE": "biz:2"}


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        ({"name": "x"}, "unexpected keyword argument 'name' (did you mean task_name=?)"),
        ({"script_contents": "x"}, "(did you mean script_content=?)"),
        ({"bogus": 1}, "unexpected keyword argument 'bogus'"),
    ],
)
async def test_a_wrong_keyword_names_the_public_method_and_what_was_meant(
    wrong: dict, says: str
) -> None:
    async with BkJobClient("http://127.0.0.1:9", app_code="a", app_secret="s", username="u") as c:
        with pytest.raises(TypeError) as info:
            await c.fast_execute_script(Scope.biz(2), script_content="echo", **wrong)
    message = str(info.value)
    assert message.startswith("BkJobClient.fast_execute_script() ")
    assert says in message
    assert "Protocol" not in message


def test_a_policy_error_names_the_values_and_where_they_came_from() -> None:
    with pytest.raises(ValueError, match=r"max_interval \(0.5 s\)") as info:
        PollPolicy(latency=1, max_interval=0.5)
    assert "interval (5 s; 5 s when not given)" in str(info.value)
    assert PollPolicy(interval=30).max_interval == 30  # an unset cap follows the interval
    assert PollPolicy().max_interval == 15


async def test_the_command_line_refuses_what_the_library_refuses() -> None:
    result = await run(["watch", "1", "--interval", "5", "--max-interval", "1"], ENV)
    assert result.status == 2
    with pytest.raises(ValueError, match="max_interval") as info:
        PollPolicy(interval=5, max_interval=1)
    assert str(info.value) in result.err
    assert "cannot connect" not in result.err


def test_one_language_by_default_in_the_library_and_the_command_line() -> None:
    client = BkJobClient("http://127.0.0.1:9", app_code="a", app_secret="s", username="u")
    request = client.protocol.build("get_job_instance_status", Scope.biz(2), 1)
    assert request.headers["Blueking-Language"] == "en"
    none = BkJobClient(
        "http://127.0.0.1:9", app_code="a", app_secret="s", username="u", language=None
    )
    assert (
        "Blueking-Language"
        not in none.protocol.build("get_job_instance_status", Scope.biz(2), 1).headers
    )


async def test_a_refused_resume_creates_no_file(tmp_path: Path) -> None:
    state = tmp_path / "nope.db"
    result = await run(["watch", "--state", str(state)], ENV)
    assert result.status == 2
    assert "no watch named 'watch'" in result.err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["status", "-5"], "status"),
        (["watch", "0"], "watch"),
        (["watch", "1", "--interval", "0"], "watch"),
    ],
)
async def test_a_bad_value_is_one_line_and_where_to_read_more(
    argv: list[str], command: str
) -> None:
    result = await run(argv, ENV)
    assert result.status == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 2, result.err
    assert lines[0].startswith(f"bkjob-async {command}: error: argument ")
    assert lines[1] == f"see 'bkjob-async {command} --help'"
