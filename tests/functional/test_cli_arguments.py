"""Every numeric argument of every command is checked as it is parsed (issue 22, point 3).

The test walks the parser itself, so a flag added later without a checked type fails here:
each number is a ``Number`` (never a bare ``int``/``float``), and each bad value (a word,
``nan``, ``inf``, one past either bound, a huge integer) is one usage line and exit status 2,
with no traceback and nothing sent: the environment points at a port nothing listens on.

The commands run in-process (``amain``) on one parser built for the module: building it is
almost all of a refused command's cost (about 10 ms, some 800 times here), and parsing leaves
nothing behind in it. One bad value runs as a real process too, for what only a process
shows: its exit status and its stderr as a person sees them.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import anyio
import pytest

from bkjob_async._numbers import ID, IDS, Number
from bkjob_async.cli import _parser
from bkjob_async.cli._parser import build_parser
from bkjob_async.cli._runtime import Context

from ..cli_run import cli_command, make_env, run, subprocess_env

#: Where the commands would connect: nothing listens there, and nothing may be tried.
ENV = make_env("http://127.0.0.1:9")


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))
    if path:
        yield path, parser


#: Typed arguments that are not numbers (checked by a type of their own).
NOT_NUMBERS = {"simulate --app", "watch --events", "watch --status"}


def _label(path: tuple[str, ...], action: argparse.Action) -> str:
    return (
        " ".join(path) + " " + (action.option_strings[0] if action.option_strings else action.dest)
    )


def _typed_arguments() -> list[tuple[tuple[str, ...], argparse.Action]]:
    found = []
    for path, parser in _commands(PARSER):
        for action in parser._actions:
            if action.type is not None and not isinstance(action, argparse._SubParsersAction):
                found.append((path, action))
    return found


PARSER = build_parser()
TYPED = _typed_arguments()
NUMERIC = [(p, a) for p, a in TYPED if _label(p, a) not in NOT_NUMBERS]


def _the_one_parser(context: Context | None = None) -> argparse.ArgumentParser:
    """``build_parser`` for this module: ``PARSER``, writing to ``context``'s streams (every
    parser of the tree is of one class, whose ``context`` a fresh build would set)."""
    type(PARSER).context = context  # type: ignore[attr-defined]
    return PARSER


@pytest.fixture(autouse=True)
def _one_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_parser, "build_parser", _the_one_parser)


def test_every_typed_argument_is_a_checked_number() -> None:
    assert len(NUMERIC) >= 25  # the walk finds the commands' numbers
    bare = [_label(p, a) for p, a in NUMERIC if not isinstance(a.type, Number)]
    assert not bare, f"numbers parsed without a range check: {bare}"
    assert {_label(p, a) for p, a in TYPED} >= NOT_NUMBERS


def test_ids_are_java_longs() -> None:
    ids = {_label(p, a) for p, a in NUMERIC if a.type in (ID, IDS)}
    for expected in (
        "status job_ids",
        "watch job_ids",
        "logs job_ids",
        "operate job_id",
        "logs --step",
    ):
        assert expected in ids


def _bad_values(number: Number) -> list[str]:
    low = number.low if number.above else number.low - 1
    high = number.high * 10 + 1
    values = ["abc", "nan", "inf", "-inf", str(int(low)) if number.kind is int else str(low)]
    values.append(str(int(high)) if number.kind is int else f"{high:g}")
    if number.kind is int:
        values += ["1.5", str(2**64)]
    return values


@pytest.mark.parametrize(
    ("path", "action"), [pytest.param(p, a, id=_label(p, a)) for p, a in NUMERIC]
)
async def test_a_bad_number_is_one_usage_line_and_exit_2(
    path: tuple[str, ...], action: argparse.Action
) -> None:
    option = list(action.option_strings[:1])
    nargs = action.nargs if isinstance(action.nargs, int) else 1
    assert isinstance(action.type, Number)
    for value in _bad_values(action.type):
        result = await run([*path, *option, *([value] * nargs)], ENV)
        assert result.status == 2, (value, result.err)
        errors = [line for line in result.err.splitlines() if "error:" in line]
        assert len(errors) == 1, (value, result.err)
        assert "argument" in errors[0]
        assert "Traceback" not in result.err + result.out
        assert "cannot connect" not in result.err  # refused before anything was sent


async def test_a_bad_number_as_a_program_is_one_usage_line_and_exit_2() -> None:
    """The process's own exit status and streams (``main``, as the console script runs it)."""
    argv = [*cli_command(), "watch", "1", "--interval", "nan"]
    with anyio.fail_after(30):
        done = await anyio.run_process(argv, env=subprocess_env("http://127.0.0.1:9"), check=False)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    assert "argument --interval" in errors[0]
    assert "Traceback" not in err
    assert done.stdout == b""
    assert "cannot connect" not in err  # refused before anything was sent


@pytest.mark.parametrize(
    "words", [["9223372036854775808", "confirm"], ["-3", "confirm"], ["x", "confirm"]]
)
async def test_operate_checks_its_step_id_before_connecting(words: list[str]) -> None:
    result = await run(["operate", "1", *words], ENV)
    assert result.status == 2
    assert "STEP_ID" in result.err
    assert "cannot connect" not in result.err


async def test_the_largest_id_is_taken() -> None:
    result = await run(["status", str(2**63 - 1)], ENV)
    assert "cannot connect" in result.err  # parsed, then tried: no server is there


@pytest.mark.parametrize(
    ("argv", "usage", "hint"),
    [
        (["watch", "--jsno", "1"], "usage: bkjob-async watch", "(did you mean --json?)"),
        (["launch", "script", "--contnt", "x"], "usage: bkjob-async launch script", "--content?"),
        (["status", "1", "--zzz"], "usage: bkjob-async status", None),
    ],
)
async def test_a_mistyped_flag_is_reported_by_its_command(
    argv: list[str], usage: str, hint: str | None
) -> None:
    result = await run(argv, ENV)
    assert result.status == 2
    assert result.err.startswith(usage)  # the command's usage, not the top-level one
    assert "error: unrecognized arguments:" in result.err
    if hint is None:
        assert "did you mean" not in result.err
    else:
        assert hint in result.err


@pytest.mark.parametrize(
    ("argv", "usage", "hint"),
    [
        (["wach", "1"], "usage: bkjob-async [-h]", "(did you mean watch?)"),
        (["launch", "scrpt"], "usage: bkjob-async launch [-h] KIND", "(did you mean script?)"),
        (["zzzzzz"], "usage: bkjob-async [-h]", None),
    ],
)
async def test_a_mistyped_command_gets_the_nearest_one(
    argv: list[str], usage: str, hint: str | None
) -> None:
    """As git does: "did you mean watch?" (argparse before 3.14 says only "invalid choice")."""
    result = await run(argv, ENV)
    assert result.status == 2
    assert result.err.startswith(usage)
    typed = next(word for word in argv if not word.isdigit() and word != "launch")
    assert f"invalid choice: {typed!r}" in result.err
    if hint is None:
        assert "did you mean" not in result.err
    else:
        assert result.err.rstrip().endswith(hint)


@pytest.mark.parametrize(("argv", "commands"), [([], ["demo", "watch"]), (["launch"], ["script"])])
async def test_no_command_lists_the_commands(argv: list[str], commands: list[str]) -> None:
    """As git does with no command: the commands and what each does, then the error."""
    result = await run(argv, ENV)
    assert result.status == 2
    assert result.out == ""  # all of it on stderr: it is a usage error
    listed = result.err.split("positional arguments:", 1)[1]
    for command in commands:
        assert f"\n    {command} " in listed
    assert result.err.rstrip().endswith(
        "error: the following arguments are required: " + ("KIND" if argv else "COMMAND")
    )


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["watch", "1", "--follow"], "--follow is for a cluster watch: add --watch NAME"),
        (["watch", "1", "--cluster", "prod"], "--cluster is for a cluster watch"),
        (["watch", "1", "--group", "g", "--follow"], "--group and --follow are for a cluster"),
        (
            ["watch", "1", "--redis", "redis://127.0.0.1:9/0", "--watch", "w", "--state", "x"],
            "--state keeps a watch of bk-job; a cluster watch is kept in Redis",
        ),
    ],
)
async def test_flags_of_a_cluster_watch_are_refused_without_one(argv: list[str], says: str) -> None:
    """A flag that would be ignored is refused (exit 2) before anything is sent."""
    result = await run(argv, ENV)
    assert result.status == 2
    assert says in result.err
    assert len(result.err.strip().splitlines()) == 1
