"""How a poller's exit hands on what it is handed: a cancel goes on as itself, chained to nothing new."""

from __future__ import annotations

import contextlib

import anyio

from bkjob_async import Poller

from ..virtual import VirtualBkJob, run_virtual


def _chained_to_itself(exc: BaseException | None) -> BaseException | None:
    """The first exception met twice along ``exc``'s chain of contexts (``None``: no cycle)."""
    seen: list[BaseException] = []
    while exc is not None and all(exc is not other for other in seen):
        seen.append(exc)
        exc = exc.__context__
    return exc


def test_a_cancel_through_an_exit_stack_is_never_chained_to_itself() -> None:
    """The CLI's worker holds its poller in an exit stack beside exits of its own. Cancelled
    from outside (a task group of the program's), an exit before the poller's met the cancel,
    then the poller's exit raised again the cancel it was handed: ``AsyncExitStack`` chained
    that exception to itself, and anyio's task group, looking for the first cancel of the
    chain, walked it forever at 100% of a core."""
    server = VirtualBkJob({1: 1e9})
    raised: list[BaseException] = []

    async def main() -> None:
        async with server.client() as client:
            with anyio.CancelScope() as scope:
                try:
                    async with contextlib.AsyncExitStack() as stack:
                        await stack.enter_async_context(Poller(client))
                        stack.push_async_callback(anyio.sleep, 1.0)  # its exit, cancelled
                        scope.cancel()
                        await anyio.sleep(1.0)
                except BaseException as exc:
                    raised.append(exc)
                    raise
            assert scope.cancelled_caught

    run_virtual(main)
    assert _chained_to_itself(raised[0]) is None
