"""Run a test module's slow, independent cases at once, and let each test report its own.

The docs' example blocks (``test_docs.py``, ``test_docs_shell.py``) each start a process
against their own simulator and mostly wait on it: one after another, the two files held a
worker for 118 s at a load of 2-4 (29 s of CPU); at once, 63 s (33 s of CPU). ``at_once`` runs the bodies of the tests selected in a module
(``selected``) side by side, ``limit`` at a time, in a module-scoped fixture; each test then
calls ``outcome(...)``, which raises what its body raised (its own assertion, with its own
message and traceback), so every case still passes or fails as a test of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, TypeVar

import anyio
import pytest

K = TypeVar("K", bound=Hashable)

#: What a body may raise that its test must raise: a failed check, a skip, an error.
_REPORTED = (Exception, pytest.skip.Exception, pytest.fail.Exception)


class NotRun(Exception):
    """A body that did not finish within the whole run's time (``at_once``'s ``within``)."""


def selected(
    request: pytest.FixtureRequest, name: str = "block", tests: Iterable[str] = ()
) -> list[Any]:
    """Return the cases of the module's tests this session runs, in order (a ``-k`` or a node
    id runs only its own bodies): each test's ``name`` parameter, or its own name for the
    ``tests`` named (one body each)."""
    found: list[Any] = []
    alone = set(tests)
    for item in request.session.items:
        if getattr(item, "module", None) is not request.module:
            continue
        spec = getattr(item, "callspec", None)
        if spec is not None and name in spec.params:
            case = spec.params[name]
        elif getattr(item, "originalname", None) in alone:
            case = getattr(item, "originalname", None)
        else:
            continue
        if case not in found:
            found.append(case)
    return found


async def at_once(
    cases: Iterable[K],
    body: Callable[[K], Awaitable[None]],
    *,
    limit: int,
    within: float,
) -> dict[K, BaseException | None]:
    """Run ``body(case)`` for every case, ``limit`` at a time; return what each raised
    (``None``: it passed). A body still running or waiting its turn after ``within`` seconds
    is cancelled and gets ``NotRun``."""
    outcomes: dict[K, BaseException | None] = {}
    slots = anyio.CapacityLimiter(limit)
    todo = list(cases)

    async def one(case: K) -> None:
        async with slots:
            try:
                await body(case)
            except _REPORTED as exc:
                outcomes[case] = exc
            else:
                outcomes[case] = None

    with anyio.move_on_after(within):
        async with anyio.create_task_group() as tg:
            for case in todo:
                tg.start_soon(one, case)
    for case in todo:
        outcomes.setdefault(case, NotRun(f"{case}: not done within the run's {within:g} s"))
    return outcomes


def outcome(outcomes: dict[K, BaseException | None], case: K) -> None:
    """Raise what ``case``'s body raised, if anything."""
    raised = outcomes[case]
    if raised is not None:
        raise raised
