"""Rule: under virtual time nothing may wait on the network; the clock jumps when idle.

Virtual time for tests: an asyncio loop whose clock jumps to the next timer when idle.

``run_virtual(main)`` runs ``main`` like ``anyio.run``, on ``VirtualTimeLoop``: whenever
nothing is ready to run, the clock jumps to the next timer instead of sleeping, so an hour of
polling takes as long as its callbacks do. Give the simulator the same clock
(``BkJobSimulator(virtual_clock=loop_time)``) and talk to it in memory
(``sim.transport()``): nothing may wait on the network there, since a socket's answer comes
in real time while the clock jumps.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["VirtualTimeLoop", "loop_time", "run_virtual"]

T = TypeVar("T")


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector loop whose ``time()`` is virtual (from 0.0) and advances only when idle."""

    def __init__(self) -> None:
        super().__init__(selectors.SelectSelector())
        self._virtual = 0.0
        selector = self._selector  # type: ignore[attr-defined]
        real_select = selector.select

        def select(timeout: float | None = None) -> list[Any]:
            ready: list[Any] = real_select(0)
            if ready or timeout is None or timeout <= 0:
                # Nothing scheduled at all (timeout None) only happens in a deadlock, which
                # a fail_after (virtual too) turns into an error.
                return ready if timeout is not None or ready else real_select(0.01)
            self._virtual += timeout
            return ready

        selector.select = select

    def time(self) -> float:
        """Return the virtual time: seconds since the loop started, as its timers see it."""
        return self._virtual


def run_virtual(main: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``main(*args)`` on virtual time (as ``anyio.run`` does); return what it returns."""
    return anyio.run(
        main, *args, backend="asyncio", backend_options={"loop_factory": VirtualTimeLoop}
    )


def loop_time() -> float:
    """Return the running loop's clock (0.0 outside a loop): a simulator's ``virtual_clock``."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return 0.0
