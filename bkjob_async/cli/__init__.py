"""The ``bkjob-async`` command line: the top floor, above ``testing/``; nothing imports it.

Rule: ``main`` parses, runs one command on the event loop, and returns an exit status; expected
failures print a message a person can act on and never a traceback. Ctrl-C (or SIGTERM) cancels
the command's requests, restores the terminal, prints a partial summary, and exits 130.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, TextIO

import anyio

from ..errors import BkJobError
from ._runtime import EXIT_INTERRUPTED, EXIT_PIPE_CLOSED, EXIT_USAGE, CliError, Context

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable, Mapping, Sequence

__all__ = ["amain", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bkjob-async`` with ``argv`` (default: the process arguments); return the status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:  # (what argparse would print, without building every parser)
        from .. import __version__

        print(f"bkjob-async {__version__}")
        return 0
    try:
        return anyio.run(_main_with_signals, args)
    except KeyboardInterrupt:  # before the handler was installed, or after it was removed
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


async def _main_with_signals(argv: list[str]) -> int:
    interrupt = anyio.Event()
    if sys.platform == "win32" or threading.current_thread() is not threading.main_thread():
        # No asyncio signal handlers there: Ctrl-C arrives as KeyboardInterrupt (see main).
        return await amain(argv, interrupt=interrupt)
    result: list[int] = []
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            result.append(await amain(argv, interrupt=interrupt))
            tg.cancel_scope.cancel()

        async def on_signal(ctx_interrupt: anyio.Event) -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    if ctx_interrupt.is_set():  # a second Ctrl-C: stop waiting for cleanup
                        # (cancelled, not KeyboardInterrupt: raised in a task group, that
                        # escaped ``main`` as an exception group's traceback)
                        tg.cancel_scope.cancel()
                        return
                    ctx_interrupt.set()

        tg.start_soon(on_signal, interrupt)
        tg.start_soon(run)
    if not result:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return result[0]


async def amain(
    argv: Sequence[str],
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    env: Mapping[str, str] | None = None,
    interrupt: anyio.Event | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run one command in the current event loop (what tests call); return the exit status.

    Setting ``interrupt`` acts as Ctrl-C does. ``stdin`` is where ``-`` among the job ids
    reads more (the process's when ``stdout`` is not given either).
    """
    ctx = Context(
        stdout=stdout or sys.stdout,
        stderr=stderr or sys.stderr,
        env=os.environ if env is None else env,
        interrupt=interrupt,
        stdin=sys.stdin if stdin is None and stdout is None else stdin,
        argv=argv,
    )
    from ._parser import ParserExit, build_parser

    try:
        args = build_parser(ctx).parse_args(list(argv))
    except ParserExit as exc:
        return exc.status
    command = _command(args.command)
    async with anyio.create_task_group() as tg:

        async def relay() -> None:
            await ctx.interrupt.wait()
            ctx.cancel_all()

        tg.start_soon(relay)
        try:
            status = await command(ctx, args)
        except Exception as exc:
            status = _expected(ctx, args.command, exc)
        tg.cancel_scope.cancel()
    return status


def _leaves(exc: BaseException) -> list[BaseException]:
    """Return the exceptions inside (nested) exception groups, or ``[exc]``."""
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, (list, tuple)) and inner:
        return [leaf for sub in inner if isinstance(sub, BaseException) for leaf in _leaves(sub)]
    return [exc]


def _expected(ctx: Context, command: str, exc: Exception) -> int:
    """Report an expected failure (also when task groups wrapped it) and return its status.

    ``CliError`` carries its message and status; a closed stdout ends quietly; any other
    ``BkJobError`` is told as its message (exit 2). Anything else is a bug: it propagates.
    """
    leaves = _leaves(exc)
    if not all(isinstance(e, (CliError, BrokenPipeError, BkJobError)) for e in leaves):
        raise exc
    if any(isinstance(e, BrokenPipeError) for e in leaves):
        _silence_stdout(ctx)
        return EXIT_PIPE_CLOSED
    first = leaves[0]
    if isinstance(first, CliError):
        ctx.err(f"bkjob-async {command}: {first.message}")
        return first.status
    ctx.err(f"bkjob-async {command}: {first}")
    return EXIT_USAGE


def _silence_stdout(ctx: Context) -> None:
    """Point a closed stdout at /dev/null, so the interpreter's final flush does not fail."""
    try:
        fileno = ctx.stdout.fileno()
    except (OSError, ValueError, AttributeError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fileno)
    finally:
        os.close(devnull)


#: Each command's module and function, imported when that command runs (not at start).
_COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("._demo", "run_demo"),
    "watch": ("._commands", "run_watch"),
    "status": ("._commands", "run_status"),
    "operate": ("._commands", "run_operate"),
    "logs": ("._catalog", "run_logs"),
    "list": ("._catalog", "run_list"),
    "launch": ("._catalog", "run_launch"),
    "rollout": ("._rollout", "run_rollout"),
    "plans": ("._catalog", "run_plans"),
    "vars": ("._catalog", "run_vars"),
    "call": ("._catalog", "run_call"),
    "crons": ("._catalog", "run_crons"),
    "push-config": ("._catalog", "run_push_config"),
    "simulate": ("._commands", "run_simulate"),
    "worker": ("._cluster", "run_worker"),
    "submit": ("._cluster", "run_submit"),
    "cluster": ("._cluster", "run_cluster"),
    "dashboard": ("._dashboard", "run_dashboard"),
}


def _command(name: str) -> Callable[[Context, argparse.Namespace], Awaitable[int]]:
    """Return the function that runs command ``name``, importing its module now."""
    import importlib

    module, function = _COMMANDS[name]
    found: Callable[[Context, argparse.Namespace], Awaitable[int]] = getattr(
        importlib.import_module(module, __name__), function
    )
    return found
