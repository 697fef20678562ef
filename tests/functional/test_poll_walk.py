"""One poll, one straight line (issue 63, point 2): the modules of ``polling/`` a changed poll
visits, from the due heap handing its job to a worker to the consumer reading the transition's
``host`` and ``result``, are at most nine, and always the same nine (the dashboards' fold of
events is not one of them: it is ``bkjob_async._fold``, outside the engine)."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from bkjob_async import BkJobClient, HostTransition, Poller, PollPolicy, Scope
from bkjob_async.testing import MockTransport, run_virtual

from ..scripted import ScriptedServer, job_body

SCOPE = Scope.biz(2)
#: The path, in order of first visit (``docs/explanation/architecture.md`` says it).
WALK = [
    "_due",
    "_jobs",
    "_driver",
    "_reader",
    "_decide",
    "_tracker",
    "events",
    "_delivery",
    "_subscription",
    "_watch",
]

#: What the driver asks of ``_decide``'s health before it sends, when the rate governor or an
#: outage acts (``Driver.may_send``): a gate on the way, not a step of the poll's walk.
_GATE = frozenset({"Server.allows", "Server.wait", "allows", "wait"})  # (3.10: no qualname)
#: The driver's rate governor (``_rate``, pure) hears of an answer when its sample is due: the
#: driver's counting, beside the walk.
_BESIDE = frozenset({"_rate"})
_POLLING = "bkjob_async.polling."


def _module(frame: FrameType | None) -> str:
    name = "" if frame is None else frame.f_globals.get("__name__", "")
    return name.removeprefix(_POLLING) if name.startswith(_POLLING) else ""


def _walk(crossings: list[tuple[str, str]] | None = None) -> list[str]:
    """Return the modules of ``polling/`` entered, in order, during the second changed poll
    (a module entered again right after itself once); ``crossings`` gets each call from one
    module of ``polling/`` into another, as ``(caller, callee)``."""
    entered: list[str] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            name = _module(frame)
            code = frame.f_code
            if name == "_decide" and getattr(code, "co_qualname", code.co_name) in _GATE:
                return  # (the send gate, asked before the read when a rate or outage acts)
            if not name or name in _BESIDE:
                return
            caller = _module(frame.f_back)
            if crossings is not None and caller and caller != name:
                crossings.append((caller, name))
            if not entered or entered[-1] != name:
                entered.append(name)

    async def main() -> None:
        server = ScriptedServer()
        server.script(
            1,
            # (a step to come: a job whose last host runs is left to the job list instead)
            job_body(1, 2, [(10, 2, 0, [5]), (11, 1, 0, None)]),
            job_body(1, 2, [(10, 2, 0, [7]), (11, 1, 0, None)]),
            job_body(1, 3, [(10, 3, 0, [9]), (11, 3, 0, None)]),
        )
        client = BkJobClient(
            "http://bkjob.invalid",
            app_code="app",
            app_secret="s3cret-walk",
            username="u",
            transport=MockTransport(server),
        )
        policy = PollPolicy(interval=1.0, max_interval=2.0, latency=2.0)
        async with client, Poller(client, policy=policy) as poller:
            transitions = 0
            async for event in poller.watch_jobs(SCOPE, [1]):
                if isinstance(event, HostTransition):
                    transitions += 1
                    if transitions == 1:
                        sys.setprofile(profile)  # the next poll, to its event's host read
                    else:
                        assert event.host.bk_host_id == 100
                        assert event.result.status == 7
                        sys.setprofile(None)
                        break

    try:
        run_virtual(main)
    finally:
        sys.setprofile(None)
    return entered


def test_a_changed_poll_visits_ten_modules_in_a_line() -> None:
    entered = _walk()
    entered = entered[entered.index("_due") :]  # (from the heap: the consumer waited before)
    first_visits = list(dict.fromkeys(entered))
    assert set(first_visits) <= set(WALK), first_visits
    assert len(first_visits) <= len(WALK)
    assert first_visits[:6] == WALK[:6], first_visits  # heap, table, worker, read, decide, track
    # Once decided, no module before the decision is entered again but the heap's and the
    # driver's, which apply it (the reader is not called back, an event reads no reader).
    decided = entered.index("_decide")
    assert "_reader" not in entered[decided:], entered


def _circles(edges: set[tuple[str, str]]) -> list[tuple[str, ...]]:
    """Return the circles of calls among modules (``a -> b -> ... -> a``), each once."""
    found: set[tuple[str, ...]] = set()

    def visit(path: tuple[str, ...]) -> None:
        for caller, callee in edges:
            if caller != path[-1]:
                continue
            if callee == path[0]:
                start = path.index(min(path))
                found.add(path[start:] + path[:start])
            elif callee not in path:
                visit((*path, callee))

    for module in {m for edge in edges for m in edge}:
        visit((module,))
    return sorted(found)


def test_a_changed_poll_calls_no_module_back() -> None:
    """One direction: along the walk no module calls back a module that called it, directly or
    around a circle (the driver hands the poll on; nothing hands it back up)."""
    crossings: list[tuple[str, str]] = []
    _walk(crossings)
    assert _circles(set(crossings)) == []
