"""Rule: each test that asks gets its own simulated bk-job and a client bound to it.

A pytest plugin: a simulated bk-job and a client bound to it, per test (entry point ``pytest11``).

Layer: testing (the top); loaded by pytest from the package's ``pytest11`` entry point, or with
``-p bkjob_async.testing.pytest_plugin``. Async fixtures run under anyio's pytest plugin, so a
test is an ``async def`` marked ``@pytest.mark.anyio`` (or any test under ``anyio_mode = "auto"``)
on asyncio or trio; ``bkjob_server`` and ``bkjob_sync_client`` serve plain ``def`` tests too.

Fixtures:

- ``bkjob_simulator``: a ``BkJobSimulator``, reached in memory (``bkjob_simulator.transport()``),
  not started; on virtual time when the test's marker says ``virtual_time=True``;
- ``bkjob_server``: the same simulator served over HTTP on 127.0.0.1, port 0 (``.url``), from
  an event loop in a thread of its own, so that a blocking client in a plain ``def`` test (or
  a Django view it calls) gets its answers while the test's thread waits;
- ``bkjob_client``: a ``BkJobClient`` bound to it: over HTTP when the test uses
  ``bkjob_server`` (asyncio only: aiohttp), in memory otherwise;
- ``bkjob_sync_client``: a ``bkjob_async.sync.BkJobClient`` bound to ``bkjob_server``, for
  plain ``def`` tests;
- ``bkjob_scope``: the scope of the jobs the marker created (``Scope.biz(2)`` by default).

The marker ``@pytest.mark.bkjob(jobs=..., hosts=..., faults=..., virtual_time=..., scope=...,
**simulator_options)`` configures them: ``jobs`` is a number of one-step script jobs (of
``hosts`` hosts each) or a list of step lists (``StepPlan``); ``faults`` a list of ``Fault``
(each applied to the next request) or of mappings of ``BkJobSimulator.inject`` arguments
(``{"fault": Fault.http(503), "api": "get_job_instance_status", "times": 2}``); any other keyword
goes to ``BkJobSimulator``. ``virtual_time=True`` runs the test on ``VirtualTimeLoop`` (asyncio):
sleeps and poll intervals take no real time.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from anyio.from_thread import start_blocking_portal

from ..client import BkJobClient
from ..config import Scope
from ._faults import Fault
from ._plan import StepPlan
from ._simulator import BkJobSimulator
from ._virtual import VirtualTimeLoop, loop_time

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Mapping, Sequence

    from .. import sync
    from ._mock import MockTransport

# The fixtures are pytest's to call, not the user's: the module docstring lists them.
__all__ = ["CREDENTIALS", "MARKER"]

#: The marker that configures the fixtures: ``@pytest.mark.bkjob(...)``.
MARKER = "bkjob"
#: What ``bkjob_client`` authenticates with (the simulator accepts any app by default).
CREDENTIALS = ("test-app", "test", "admin")  # app_code, app_secret, username
_OWN = frozenset({"jobs", "hosts", "faults", "virtual_time", "scope"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(jobs=0, hosts=2, faults=(), virtual_time=False, scope=Scope.biz(2), "
        "**simulator_options): the simulated bk-job of the bkjob_* fixtures",
    )


def _options(node: pytest.Item | pytest.Collector) -> dict[str, Any]:
    """The ``bkjob`` marker's keywords, the closest marker's winning (test, class, module)."""
    options: dict[str, Any] = {}
    for marker in reversed(list(node.iter_markers(MARKER))):
        if marker.args:
            raise TypeError(f"@pytest.mark.{MARKER} takes keywords only, got {marker.args!r}")
        options.update(marker.kwargs)
    return options


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test whose marker says ``virtual_time=True`` on ``VirtualTimeLoop``.

    As a ``parametrize`` mark of the test, added before pytest reads them: it takes precedence
    over the ``anyio_backend`` fixture's own parameters, as a user's mark would.
    """
    if "anyio_backend" not in metafunc.fixturenames:
        return
    if not _options(metafunc.definition).get("virtual_time"):
        return
    backend = ("asyncio", {"loop_factory": VirtualTimeLoop})
    metafunc.definition.add_marker(
        pytest.mark.parametrize("anyio_backend", [pytest.param(backend, id="virtual")])
    )


def _backend_name(anyio_backend: Any) -> str:
    return str(anyio_backend if isinstance(anyio_backend, str) else anyio_backend[0])


def _inject(sim: BkJobSimulator, faults: Sequence[Fault | Mapping[str, Any]]) -> None:
    for fault in faults:
        if isinstance(fault, Fault):
            sim.inject(fault)
        else:
            sim.inject(**fault)


def _jobs(
    sim: BkJobSimulator, scope: Scope, jobs: int | Sequence[Sequence[StepPlan]], hosts: int
) -> None:
    plans = [[StepPlan(hosts=hosts)]] * jobs if isinstance(jobs, int) else jobs
    for steps in plans:
        sim.create_job(scope, list(steps))


def _client(url: str, transport: MockTransport | None = None) -> BkJobClient:
    code, secret, user = CREDENTIALS
    return BkJobClient(url, app_code=code, app_secret=secret, username=user, transport=transport)


@pytest.fixture
def bkjob_scope(request: pytest.FixtureRequest) -> Scope:
    """The scope of the marker's jobs (``scope=``; ``Scope.biz(2)`` by default)."""
    scope = _options(request.node).get("scope", Scope.biz(2))
    return scope if isinstance(scope, Scope) else Scope.biz(int(scope))


def _simulator(options: Mapping[str, Any], scope: Scope, *, virtual: bool) -> BkJobSimulator:
    """The marker's simulator, with its jobs made and its faults injected; not started."""
    simulator = {k: v for k, v in options.items() if k not in _OWN}
    if virtual:
        simulator.setdefault("virtual_clock", loop_time)
    sim = BkJobSimulator(**simulator)
    _jobs(sim, scope, options.get("jobs", 0), options.get("hosts", 2))
    _inject(sim, options.get("faults", ()))
    return sim


@pytest.fixture
async def bkjob_simulator(
    request: pytest.FixtureRequest, bkjob_scope: Scope, anyio_backend: Any
) -> AsyncIterator[BkJobSimulator]:
    """A simulated bk-job, as the test's ``bkjob`` marker configures it, reached in memory
    (the very one ``bkjob_server`` serves when the test uses it)."""
    if "bkjob_server" in request.fixturenames:
        yield request.getfixturevalue("bkjob_server")
        return
    options = _options(request.node)
    virtual = bool(options.get("virtual_time", False))
    if virtual and not isinstance(asyncio.get_running_loop(), VirtualTimeLoop):
        raise RuntimeError(_VIRTUAL_ONLY)
    sim = _simulator(options, bkjob_scope, virtual=virtual)
    try:
        yield sim
    finally:
        await sim.aclose()


_VIRTUAL_ONLY = (
    "virtual_time=True needs an anyio test (it then runs on VirtualTimeLoop) that does"
    " not use bkjob_server (a real socket answers in real time)"
)


@pytest.fixture
def bkjob_server(request: pytest.FixtureRequest, bkjob_scope: Scope) -> Iterator[BkJobSimulator]:
    """The test's simulator, served over HTTP on 127.0.0.1 (a free port): ``.url``.

    It serves from an event loop in a thread of its own: a blocking call in the test's thread
    (a sync client, a Django view) does not stop it. A sync or an async test alike.
    """
    options = _options(request.node)
    if options.get("virtual_time"):
        raise RuntimeError(_VIRTUAL_ONLY)
    sim = _simulator(options, bkjob_scope, virtual=False)
    with start_blocking_portal("asyncio") as portal:
        portal.call(sim.start)
        try:
            yield sim
        finally:
            portal.call(sim.aclose)


@pytest.fixture
def bkjob_sync_client(bkjob_server: BkJobSimulator) -> Iterator[sync.BkJobClient]:
    """A blocking client (``bkjob_async.sync.BkJobClient``) of ``bkjob_server``, for ``def`` tests."""
    from .. import sync

    code, secret, user = CREDENTIALS
    client = sync.BkJobClient(bkjob_server.url, app_code=code, app_secret=secret, username=user)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
async def bkjob_client(
    request: pytest.FixtureRequest, bkjob_simulator: BkJobSimulator
) -> AsyncIterator[BkJobClient]:
    """A client of the test's simulator: over HTTP if the test uses ``bkjob_server``."""
    if "bkjob_server" in request.fixturenames:
        if _backend_name(request.getfixturevalue("anyio_backend")) != "asyncio":
            pytest.skip(
                "bkjob_client over HTTP (bkjob_server) runs on asyncio (aiohttp); "
                "on trio use bkjob_client in memory"
            )
        client = _client(bkjob_simulator.url)
    else:
        memory = bkjob_simulator.transport()
        client = _client("http://bkjob.test", memory)
    async with client:
        yield client
