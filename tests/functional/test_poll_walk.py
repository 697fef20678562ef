"""One poll, one line (issue 92, item 2): a changed poll's walk through ``polling/``, from the
due heap handing its job to a worker to the consumer reading the transition's ``host`` and
``result``, enters each module once, in one direction; the job table (``_jobs``) is the one
module entered twice, once to read and once to write, each named below (``LINE``).

A *visit* is a call into a module of ``polling/`` from another one. Calls that cross from one
visit into the same module again with nothing else in between (the heap's several looks at its
entries in one tick; ``decide`` running the tracker's ``observe``, then reading the state it
returned) are one visit; a coroutine resumed after an await goes on with its visit; a module
entered from outside ``polling/`` (the event loop's timer, the transport, the consumer's task)
starts a walk of its own, not a visit from another module; so does a finalizer the cyclic
collector runs (a dropped ``Watch``'s ``__del__``, garbage of an earlier run): its frame's
``f_back`` is whatever frame the collection interrupted, which did not call it. A worker that
looks for its next job (``Due.take``) once its poll is applied begins that job's walk, not a
visit of this one: a poll's walk runs from the heap handing its job out to the next hand-out.
The dashboards' fold of events is not on the walk: it is ``bkjob_async._fold``, outside the
engine.
"""

from __future__ import annotations

import dis
import gc
import inspect
import sys
from types import CodeType, FrameType
from typing import Any

import anyio

from bkjob_async import BkJobClient, HostTransition, Poller, PollPolicy
from bkjob_async.testing import MockTransport, run_virtual

from ..scripted import SCOPE, ScriptedServer, job_body

#: The walk, visit by visit: ``(from, into)``. A job table read and written around a request
#: cannot be entered once (the request needs the row before the I/O; the decision's write comes
#: after it), so it is entered twice: one read, as the heap takes the due job (its entry, when
#: it was last sent, and its row, ``_jobs.Row``, which the poll carries to its decision: the
#: reader decodes with it and writes nothing); and one write, the driver's, of what the
#: decision changed with the next poll's entry, before its actions (an outage's actions read
#: every job's value). The entry goes to the heap after the actions, without the job table (an
#: outage that ends re-phases every job not in flight), where the worker then looks for its
#: next job: the next poll's walk.
#: A watch that changes the job while its poll is in flight makes that write write nothing and
#: the driver read the row again (``_jobs.Watched.put``): not on this walk. Every other module
#: is entered once.
LINE = [
    ("_due", "_jobs"),  # the read: the job handed out with its row
    ("_workers", "_reader"),  # the read; after its answer was held back, its decode
    ("_workers", "_driver"),  # the decoded answer, to be decided and applied
    ("_driver", "_decide"),
    ("_decide", "_tracker"),  # ``observe``, then the new state's reads (``ends_next``)
    ("_tracker", "events"),
    ("_driver", "_jobs"),  # the write: the decision's changes and the next poll's entry
    ("_driver", "_delivery"),
    ("_delivery", "_subscription"),  # where the consumer waits: it is handed the event there
    ("_driver", "_due"),
]
#: The job table's two entries on the walk: its read, then its write.
JOBS = [("_due", "_jobs"), ("_driver", "_jobs")]
#: The modules of the walk, in order of first visit (``docs/explanation/architecture.md``).
WALK = ["_due", "_jobs", "_workers", "_reader", "_driver", "_decide", "_tracker", "events"]
WALK += ["_delivery", "_subscription", "_watch"]

#: What the driver asks of ``_decide``'s health before it sends, when the rate governor or an
#: outage acts (``Driver.may_send``): a gate on the way, not a step of the poll's walk.
_GATE = frozenset({"Server.allows", "Server.wait", "allows", "wait"})  # (3.10: no qualname)
#: A worker looking for its next job (``Due.take`` called from ``_workers``): the next walk.
_NEXT = frozenset({"Due.take", "take"})  # (3.10: no qualname)
#: The driver's rate governor (``_rate``, pure) hears of an answer when its sample is due; the
#: loop's turn (``_turn``) counts the work a worker does (a poll sent, an answer folded) and
#: says when to wait for the next turn of the event loop. Neither sees the job or its answer:
#: the poller's counting, beside the walk.
_BESIDE = frozenset({"_rate", "_turn"})
_POLLING = "bkjob_async.polling."
#: The walk's poller's policy: a poll a second, its changes seen within two.
POLICY = PollPolicy(interval=1.0, max_interval=2.0, latency=2.0)


def _client(answer: Any) -> BkJobClient:
    """Return a client whose requests ``answer`` answers (a scripted server, or a handler)."""
    return BkJobClient(
        "http://bkjob.invalid",
        app_code="app",
        app_secret="s3cret-walk",
        username="u",
        transport=MockTransport(answer),
    )


def _module(frame: FrameType | None) -> str:
    name = "" if frame is None else frame.f_globals.get("__name__", "")
    return name.removeprefix(_POLLING) if name.startswith(_POLLING) else ""


_LAZY = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_STARTS: dict[CodeType, int] = {}


def _resumed(frame: FrameType) -> bool:
    """Whether a ``call`` event resumes a coroutine or generator (not a new call)."""
    code = frame.f_code
    if not code.co_flags & _LAZY:
        return False
    start = _STARTS.get(code)
    if start is None:  # (3.11+: the first ``RESUME``; 3.10: -1 before the first instruction)
        offsets = [i.offset for i in dis.get_instructions(code) if i.opname == "RESUME"]
        start = _STARTS[code] = offsets[0] if offsets else -1
    return frame.f_lasti > start


def _walk(crossings: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """Return the visits of the second changed poll's walk (module docstring), from the heap's
    tick that hands its job out to a worker's look for its next job, as ``(from, into)``;
    ``crossings`` gets each call from one module of ``polling/`` into another, as ``(caller,
    callee)``, resumptions left out."""
    visit_of: dict[FrameType, int] = {}  # (frames kept alive: their ids are not reused)
    last_child: dict[int, tuple[str, int]] = {}
    seen: list[tuple[str, str]] = []  # ("", module): a walk of its own; else a visit
    nexts: list[int] = []  # where a worker looked for its next job (``_NEXT``) in ``seen``
    #: While the cyclic collector runs, the frame it interrupted (``None``: none), which calls
    #: nothing until it ends: a frame entered with it as ``f_back`` meanwhile (a finalizer, a
    #: weak reference's callback) was called by the collector.
    interrupted: list[FrameType | None] = []

    def collector(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            try:
                interrupted.append(sys._getframe(1))
            except ValueError:  # (a collection with no Python frame running)
                interrupted.append(None)
        else:
            interrupted.clear()

    def called_from(frame: FrameType) -> FrameType | None:
        """Return the frame that called ``frame`` (``None``: the collector, or none)."""
        back = frame.f_back
        return None if interrupted and back is interrupted[0] else back

    def visit(frame: FrameType, name: str) -> int:
        """Return the visit ``frame`` of module ``name`` belongs to, making it if new."""
        known = visit_of.get(frame)
        if known is not None:
            return known
        back = called_from(frame)
        caller = _module(back)
        if back is not None and caller == name:
            found = visit(back, name)
        elif back is not None and caller:
            parent = visit(back, caller)
            last = last_child.get(parent)
            if last is not None and last[0] == name:
                found = last[1]  # (into the same module again, nothing between: one visit)
            else:
                found = len(seen)
                seen.append((caller, name))
                last_child[parent] = (name, found)
        else:
            found = len(seen)
            seen.append(("", name))
        visit_of[frame] = found
        return found

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            name = _module(frame)
            code = frame.f_code
            if name == "_decide" and getattr(code, "co_qualname", code.co_name) in _GATE:
                return  # (the send gate, asked before the read when a rate or outage acts)
            if not name or name in _BESIDE:
                return
            if _resumed(frame):  # a coroutine going on with its visit (one of its own if it
                if frame not in visit_of:  # began before the trace)
                    visit_of[frame] = -len(visit_of) - 1  # (not listed: not a new visit)
                return
            caller = _module(called_from(frame))
            if crossings is not None and caller and caller != name:
                crossings.append((caller, name))
            if caller == "_workers" and getattr(code, "co_qualname", code.co_name) in _NEXT:
                visit_of[frame] = len(seen)  # (the next poll's walk: one of its own)
                nexts.append(len(seen))
                seen.append(("", name))
                return
            visit(frame, name)

    async def main() -> None:
        server = ScriptedServer()
        server.script(
            1,
            # (a step to come: a job whose last host runs is left to the job list instead)
            job_body(1, 2, [(10, 2, 0, [5]), (11, 1, 0, None)]),
            job_body(1, 2, [(10, 2, 0, [7]), (11, 1, 0, None)]),
            job_body(1, 3, [(10, 3, 0, [9]), (11, 3, 0, None)]),
        )
        client = _client(server)
        async with client, Poller(client, policy=POLICY) as poller:
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

    gc.callbacks.append(collector)
    try:
        run_virtual(main)
    finally:
        sys.setprofile(None)
        gc.callbacks.remove(collector)
    read = seen.index(("_workers", "_reader"))
    tick = max(i for i, v in enumerate(seen[:read]) if v == ("", "_due"))
    end = min((i for i in nexts if i > read), default=len(seen))
    return [v for v in seen[tick:end] if v[0]]  # (from the tick that hands the job out)


def test_a_changed_poll_walks_one_line() -> None:
    walk = _walk()
    assert walk == LINE, walk
    assert [v for v in walk if v[1] == "_jobs"] == JOBS, walk  # once to read, once to write
    into = [module for _, module in walk if module != "_jobs"]
    assert len(set(into)) == len(into), into  # every other module once
    assert list(dict.fromkeys(m for v in walk for m in v)) == WALK[:-1]


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


def _in_flight() -> tuple[list[tuple[int, int | None]], list[tuple[int, int | None]]]:
    """Watch job 1 with a first watch; while its second poll (a changed answer) is in flight,
    join a second watch to it. Return the host transitions ``(host, status)`` each watch
    heard."""
    server = ScriptedServer()
    server.script(
        1,
        job_body(1, 2, [(10, 2, 0, [5]), (11, 1, 0, None)]),
        job_body(1, 2, [(10, 2, 0, [9]), (11, 1, 0, None)]),
        job_body(1, 2, [(10, 2, 0, [9, 5]), (11, 1, 0, None)]),
    )
    heard: tuple[list[tuple[int, int | None]], list[tuple[int, int | None]]] = ([], [])

    async def main() -> None:
        flying, go = anyio.Event(), anyio.Event()

        async def handler(request: Any) -> Any:
            if server.polls[1] == 1:  # the second poll: held in flight until the change
                flying.set()
                await go.wait()
            return await server(request)

        client = _client(handler)

        async def hear(watch: Any, into: list[tuple[int, int | None]]) -> None:
            async for event in watch:
                if isinstance(event, HostTransition):
                    into.append((event.host.bk_host_id, event.result.status))

        async with client, Poller(client, policy=POLICY) as poller, anyio.create_task_group() as tg:
            tg.start_soon(hear, poller.watch_jobs(SCOPE, [1]), heard[0])
            await flying.wait()
            tg.start_soon(hear, poller.watch_jobs(SCOPE, [1]), heard[1])
            await anyio.sleep(0.1)  # (the change is made, the poll still in flight)
            go.set()
            await anyio.sleep(10)  # (its answer applied, and polls after it)
            tg.cancel_scope.cancel()

    run_virtual(main)
    return heard


def test_a_watch_that_joins_while_its_jobs_poll_is_in_flight_hears_its_answer() -> None:
    """The job's row is read as the heap hands it out, before the watch joined: the answer's
    write finds the job changed since (``_jobs.Watched.put``) and the driver decides it again
    on the row now, so the joining watch hears what the answer changed too."""
    first, second = _in_flight()
    assert first == [(100, 5), (100, 9), (101, 5)]
    assert second == [(100, 9), (101, 5)]
