"""Shared fixtures: a clean environment, the recorded samples, the simulator and the clients.

The suite is laid out by layer: ``unit/`` (pure: values in, values out), ``functional/`` (in
memory: the client, the poller or the CLI on ``MockTransport`` or virtual time, no socket),
``e2e/`` (real sockets on 127.0.0.1, child processes, tmux terminals), ``durable/`` (stores and
watches that survive a stop or a crash) and ``cluster/`` (workers sharing a redis-server).

``sim`` is a started ``BkJobSimulator``: on a virtual clock with fixed host timings
(``SIM_DEFAULTS``), or as the closest ``pytest.mark.sim(**options)`` of the test, its class or its
module says. ``make_client`` builds clients aimed at ``sim`` when the test uses it, else at
``server`` when it uses that (else at a port nothing listens on): ``server`` is a
``RecordingServer`` served over HTTP on 127.0.0.1 port 0 (``bkjob_async.testing.serve``): it
records every request it gets and answers from a queue the test fills (``server.reply(...)``,
``server.reply_raw(...)``, ``server.reply_with(handler)``); with an empty queue it answers a
bk-job success envelope. ``scripted`` is the poll engine's scripted server
(``tests/scripted.py``) served the same way, ``client`` a client on it and ``poller`` a fast
poller on that client. Both are ``MockTransport`` handlers: hand one to ``MockTransport``
where the wire does not matter. ``RawServer`` is for what no handler can say (bytes on a
socket: broken framing, a body that never ends).
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import random
import resource
import socket
import traceback
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from bkjob_async import ApiError, BkJobClient, Poller, RetryPolicy
from bkjob_async.testing import BkJobSimulator, MockTransport, Request, Response, serve
from bkjob_async.testing._mock import Handler

from . import hangs, properties
from .e2e import docs_build
from .scripted import FAST, ScriptedServer

#: The package's pytest plugin (its fixtures), loaded here and not from its ``pytest11`` entry point
#: (``-p no:bkjob_async`` in pyproject's ``addopts``): pytest loads entry points before pytest-cov
#: starts tracing, and the package's modules the plugin imports would count as never run
#: (``tests/__init__.py``).
pytest_plugins = ["bkjob_async.testing.pytest_plugin"]

SAMPLES = pathlib.Path(__file__).parent / "unit" / "samples"

#: Secrets used by every client the tests build; nothing may ever show them.
APP_SECRET = "s3cr3t-app-SECRET-9f8e7d"
BK_TOKEN = "tok-BKTOKEN-6c5b4a39"
ACCESS_TOKEN = "acc-ACCESSTOKEN-1a2b3c4d"
SECRETS = (APP_SECRET, BK_TOKEN, ACCESS_TOKEN)


#: The operation lag of the default ``sim``: an operation's step change arrives this much later.
SIM_LAG = 0.2
#: The default ``sim``: a virtual clock the test advances, fixed host timings.
SIM_DEFAULTS: dict[str, Any] = {
    "seed": 7,
    "virtual_clock": True,
    "retry_lag": 0.5,
    "operation_lag": SIM_LAG,
    "stop_delay": 1.0,
    "host_duration": 2.0,
    "host_start_delay": 0.5,
}


#: Hypothesis' profiles ``quick`` and ``full`` (``tests/properties.py``), registered before its
#: plugin loads the one ``--hypothesis-profile`` names.
properties.register()


#: The background build of the docs site (``docs_build.start``), if one was started.
_DOCS_BUILD = pytest.StashKey[Any]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sim(**options): the BkJobSimulator options of the `sim` fixture (replacing its defaults)",
    )
    hangs.configure(config)
    if _TRACE_ALL and (hasattr(config, "workerinput") or not config.getoption("numprocesses", 0)):
        _trace_children()  # (not in xdist's main process: its workers would trace themselves)
    if not hasattr(config, "workerinput"):  # (the main process: once a run)
        # The docs site the browser checks read, built from now on when it is not fresh.
        config.stash[_DOCS_BUILD] = docs_build.start(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    build = config.stash.get(_DOCS_BUILD, None)
    if build is not None:
        docs_build.stop(build)
    hangs.unconfigure(config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Any:
    """A hang the test's timeout cannot end ends the process with every stack (``hangs``); an
    ``untraced`` test runs, fixtures and all, with coverage's tracing paused (``_pause``)."""
    hangs.arm(item)
    untraced = item.get_closest_marker("untraced") and not _TRACE_ALL
    resume = _pause(item) if untraced else None
    try:
        return (yield)
    finally:
        if resume is not None:
            resume()
        hangs.disarm(item)


#: ``make coverage``: every test traced, the ``untraced`` ones too (``BKJOB_TEST_TRACE_ALL``).
_TRACE_ALL = bool(os.environ.get("BKJOB_TEST_TRACE_ALL"))


def _trace_children() -> None:
    """Trace the Python processes the tests start (a CLI, a worker, a server) as this one is:
    coverage's own start-up hook (its ``.pth`` file) reads ``COVERAGE_PROCESS_CONFIG``, and
    each child writes a data file of its own beside this process's, combined at the end."""
    import coverage

    cov = coverage.Coverage.current()
    if cov is not None:
        cov.config.parallel = True  # (a data file a process: serialized with the config)
        os.environ["COVERAGE_PROCESS_CONFIG"] = cov.config.serialize()


def _pause(item: pytest.Item) -> Callable[[], None] | None:
    """Stop every coverage measurement of this process (``--cov``; else do nothing) and return
    what starts them again. One pass runs the suite: what ``untraced`` marks (timing- or
    CPU-bound, real servers) runs beside the rest as an untraced run did, and only the rest
    counts toward the floor. (pytest-cov's ``pause()`` alone is not enough: an xdist worker
    holds a second ``Coverage``, started as the plugin loaded, under its own, and stopping the
    top one resumes the one below: the test would run traced all the same.)"""
    plugin = item.config.pluginmanager.get_plugin("_cov")
    controller = getattr(plugin, "cov_controller", None)
    if not getattr(controller, "started", False):
        return None
    import coverage

    controller.pause()
    below: list[coverage.Coverage] = []
    while (cov := coverage.Coverage.current()) is not None:
        cov.stop()
        below.append(cov)

    def resume() -> None:
        for cov in reversed(below):
            cov.start()
        controller.resume()

    return resume


@pytest.hookimpl(trylast=True)
def pytest_exception_interact(node: pytest.Item | pytest.Collector) -> None:
    hangs.rearm(node)


#: Wall and CPU seconds spent in each test file (setup, call and teardown of its tests), for
#: the summary. CPU is the test process's and its children's that ended (a daemon's, such as
#: tmux's server, is not seen): a file whose wall time is far above its CPU time waits.
_FILE_SECONDS: dict[str, list[float]] = {}
#: How many of the slowest files the summary names (``BKJOB_TEST_SLOWEST_FILES``, 0: none).
_SLOWEST_FILES = int(os.environ.get("BKJOB_TEST_SLOWEST_FILES", "12") or 0)
_CPU_AT = pytest.StashKey[float]()


def _cpu_seconds() -> float:
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_CPU_AT] = _cpu_seconds()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    now = _cpu_seconds()
    # (a user property travels with the report from an xdist worker to the summary)
    report.user_properties.append(("cpu_seconds", now - item.stash.get(_CPU_AT, now)))
    item.stash[_CPU_AT] = now
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    seconds = _FILE_SECONDS.setdefault(report.nodeid.split("::", 1)[0], [0.0, 0.0])
    seconds[0] += report.duration
    seconds[1] += sum(v for k, v in report.user_properties if k == "cpu_seconds")


#: The heaviest e2e files (a browser, the docs' blocks run as printed): on a 2-core machine two
#: of them at once starve each other past their deadlines, so under ``--dist loadfile`` they run
#: one after another on one worker while the others take the rest (``pytest_xdist_make_scheduler``).
APART = frozenset(
    {
        "tests/e2e/test_dashboard_browser.py",
        "tests/e2e/test_dashboard_containers_browser.py",
        "tests/e2e/test_docs.py",
        "tests/e2e/test_docs_shell.py",
        "tests/e2e/test_docs_site.py",
    }
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` with the ``APART`` files as one unit (any other mode: xdist's own)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Apart(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "APART" if path in APART else path

    return Apart(config, log)


#: Where ``make unit`` keeps each file's wall seconds from the runs before
#: (``BKJOB_TEST_DURATIONS``, a JSON file under .venv; unset: none kept, the order as collected).
_DURATIONS = os.environ.get("BKJOB_TEST_DURATIONS", "")
#: The seconds of every file above one, as committed: the order of a run with none kept yet
#: (a clean clone, CI), under those kept. `make test-durations` writes it from the kept ones.
_SEED = pathlib.Path(__file__).with_name("durations.json")


def _file_seconds() -> dict[str, float]:
    seconds: dict[str, float] = {}
    for path in (_SEED, pathlib.Path(_DURATIONS)):
        try:
            known = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(known, dict):
            seconds.update(known)
    return seconds


#: The test directories whose tests are all ``untraced``: real servers, Redis, crash loops.
_UNTRACED_DIRS = frozenset({"e2e", "cluster", "durable"})


#: The files of those directories traced all the same (in-process only): cheap, and the only
#: tests of much of the package (``tests/traced.txt``, with its measurement).
_TRACED_FILES = frozenset(
    line
    for line in (pathlib.Path(__file__).parent / "traced.txt").read_text().splitlines()
    if line and not line.startswith("#")
)


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark every test of an ``_UNTRACED_DIRS`` directory ``untraced`` (before ``-m`` selects),
    but those of ``_TRACED_FILES``."""
    path = item.nodeid.split("::", 1)[0]
    parts = pathlib.PurePosixPath(path).parts
    if len(parts) > 2 and parts[1] in _UNTRACED_DIRS and path not in _TRACED_FILES:
        item.add_marker(pytest.mark.untraced)


#: ``make check``'s budget: the files that took longer than this many seconds in
#: ``tests/durations.json`` are deselected (``BKJOB_TEST_FILE_LIMIT``; unset: every file runs).
_FILE_LIMIT = float(os.environ.get("BKJOB_TEST_FILE_LIMIT", "0") or 0)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The files with traced tests first, then the others, each the longest first by the
    seconds it took before: xdist hands files to its workers in this order (`make unit`
    passes ``--no-loadscope-reorder``, or xdist would hand out the files with the most tests
    first), so that a long one does not start last and finish alone. (A stable sort: each
    file's tests stay together and in their order; files not timed yet keep theirs, after
    the rest of their kind.)"""
    if _FILE_LIMIT:  # (``make check``: the files known to take longer left to ``make test``)
        seed = json.loads(_SEED.read_text())  # (not this machine's last run: a fixed subset)
        over = {path for path, took in seed.items() if float(took) > _FILE_LIMIT}
        dropped = [item for item in items if item.nodeid.split("::", 1)[0] in over]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = [item for item in items if item.nodeid.split("::", 1)[0] not in over]
    # pytest-cov starts coverage again after a ``no_cover`` test's call: under ``untraced``
    # (every coverage stopped, ``_pause``) that traced the rest of the worker's tests.
    both = [
        i.nodeid
        for i in items
        if i.get_closest_marker("untraced") and i.get_closest_marker("no_cover")
    ]
    if both:
        raise pytest.UsageError(f"untraced already stops coverage: drop no_cover from {both}")
    # The files with a traced test before the others (``make unit``'s one pass): on each
    # worker the tracer sees the module bodies and one-time paths as a traced pass did.
    seconds = _file_seconds() if _DURATIONS else {}
    traced = {_file(item) for item in items if item.get_closest_marker("untraced") is None}
    items.sort(key=lambda item: (_file(item) not in traced, -float(seconds.get(_file(item), 0))))


def _file(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Keep this run's seconds per file for the next run's order (the main process only)."""
    if not _DURATIONS or not _FILE_SECONDS or hasattr(session.config, "workerinput"):
        return
    path = pathlib.Path(_DURATIONS)
    try:
        known = json.loads(path.read_text()) if path.exists() else {}
        known = known if isinstance(known, dict) else {}
        known.update({name: round(wall, 2) for name, (wall, _) in _FILE_SECONDS.items()})
        path.with_suffix(".tmp").write_text(json.dumps(known, indent=0, sort_keys=True))
        path.with_suffix(".tmp").replace(path)
    except OSError:
        pass  # (an order, not a result)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name the slowest test files: their tests' wall time summed (under xdist, each
    worker's) and the CPU time they took."""
    if not _SLOWEST_FILES or not _FILE_SECONDS:
        return
    total = sum(wall for wall, _ in _FILE_SECONDS.values())
    cpu = sum(cpu for _, cpu in _FILE_SECONDS.values())
    slowest = sorted(_FILE_SECONDS.items(), key=lambda item: -item[1][0])[:_SLOWEST_FILES]
    terminalreporter.write_sep(
        "-", f"slowest test files (of {total:.0f} s in tests, {cpu:.0f} s of CPU)"
    )
    for name, (wall, cpu) in slowest:
        share = 100 * wall / total
        terminalreporter.write_line(f"{wall:7.1f} s  {share:4.1f}%  {cpu:6.1f} s CPU  {name}")


def sample_names() -> list[str]:
    """Return the file names of every recorded sample."""
    return sorted(p.name for p in SAMPLES.glob("*.json"))


def load_sample(name: str) -> dict[str, Any]:
    """Return one recorded sample as JSON."""
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    return data


def envelope(data: Any = None, *, result: bool = True, code: int = 0, **extra: Any) -> dict:
    """Return a bk-job response envelope around ``data``."""
    return {"result": result, "code": code, "message": "", "data": data, **extra}


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    # The client's transport is aiohttp, which runs on asyncio only.
    return "asyncio"


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    """Run each test without proxy, TLS or BlueKing variables, and restore the environment."""
    saved = dict(os.environ)
    for name in list(os.environ):
        upper = name.upper()
        if upper.endswith("_PROXY") or upper.startswith(("BK_", "BKAPI", "SSL_", "REQUESTS_")):
            del os.environ[name]
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@attrs.frozen
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def auth(self) -> dict[str, str]:
        value: dict[str, str] = json.loads(self.headers["X-Bkapi-Authorization"])
        return value


class RecordingServer:
    """A programmable stand-in for bk-job, as a ``MockTransport`` handler: ``requests`` lists
    what it received, in order, and each request is answered by the next queued answer (a bk-job
    success envelope once the queue is empty). The ``server`` fixture serves it over HTTP
    (``testing.serve``) and sets ``url``; ``transport()`` answers a client in memory instead."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._queue: deque[Handler] = deque()
        #: Where ``serve`` put it (``""`` when it is not served).
        self.url = ""

    def __call__(self, request: Request) -> Response | Awaitable[Response]:
        self.requests.append(
            Recorded(
                request.method,
                urlsplit(request.url).path,
                dict(request.query or {}),
                dict(request.headers),
                request.body or b"",
            )
        )
        handler = self._queue.popleft() if self._queue else _json_handler(envelope({}), 200, {})
        return handler(request)

    def transport(self) -> MockTransport:
        """Return a transport on which this server answers a client in memory."""
        return MockTransport(self)

    def reply(
        self,
        data: Any = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        times: int = 1,
        **envelope_fields: Any,
    ) -> None:
        """Queue ``times`` answers of a bk-job envelope around ``data``."""
        self.reply_json(
            envelope(data, **envelope_fields), status=status, headers=headers, times=times
        )

    def reply_json(
        self,
        payload: Any,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Queue ``times`` answers with ``payload`` as the JSON body."""
        for _ in range(times):
            self._queue.append(_json_handler(payload, status, headers or {}))

    def reply_raw(
        self,
        body: bytes,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str = "text/html",
    ) -> None:
        """Queue an answer with exactly these bytes."""
        all_headers = CIMultiDict({"Content-Type": content_type})
        all_headers.update(headers or {})
        answer = Response(status, CIMultiDictProxy(all_headers), body)
        self._queue.append(lambda _: answer)

    def reply_with(self, handler: Handler) -> None:
        """Queue an answer made by ``handler``, a ``MockTransport`` handler (to sleep, to raise
        ``TransportError`` and so drop the connection, ...)."""
        self._queue.append(handler)

    @property
    def pending(self) -> int:
        """Return how many queued answers were not used."""
        return len(self._queue)


def local_client(
    transport: Any, base_url: str = "http://bkjob.invalid", **options: Any
) -> BkJobClient:
    """Return a client that sends through ``transport`` (a ``MockTransport``, a simulator's) in
    the process, as app ``app`` (``APP_SECRET``) of user ``u``; ``options`` are the client's
    (``flavor``, ``retry``, ``username``, ...)."""
    identity = {"app_code": "app", "app_secret": APP_SECRET, "username": "u"}
    return BkJobClient(base_url, transport=transport, **(identity | options))


def json_answer(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return ``payload`` as JSON the way ``aiohttp.web.json_response`` sends it."""
    all_headers = CIMultiDict({"Content-Type": "application/json; charset=utf-8"})
    all_headers.update(headers or {})
    return Response(status, CIMultiDictProxy(all_headers), json.dumps(payload).encode())


def _json_handler(payload: Any, status: int, headers: dict[str, str]) -> Handler:
    answer = json_answer(payload, status, headers)
    return lambda _: answer


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    """Return a ``RecordingServer`` served on 127.0.0.1, stopped after the test."""
    recorder = RecordingServer()
    async with serve(recorder, shutdown_timeout=0.1) as http:
        recorder.url = http.url
        yield recorder


class FakeSleep:
    """An injectable ``sleep`` that records the delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


class Clients:
    """A factory of clients aimed at ``base_url`` with the suite's defaults: a username identity,
    ``sleep`` (a ``FakeSleep``), a seeded rng and four attempts. ``clients(**kwargs)`` overrides
    any of them (``base_url=`` too); ``aclose()`` closes every client it made."""

    def __init__(self, base_url: str, sleep: FakeSleep) -> None:
        self.base_url, self.sleep = base_url, sleep
        self.made: list[BkJobClient] = []

    def __call__(self, **kwargs: Any) -> BkJobClient:
        options: dict[str, Any] = {
            "app_code": "my-app",
            "app_secret": APP_SECRET,
            "username": "admin",
            "sleep": self.sleep,
            "rng": random.Random(1234),
            "retry": RetryPolicy(max_attempts=4),
        }
        options.update(kwargs)
        base_url = options.pop("base_url", self.base_url)
        client = BkJobClient(base_url, **options)
        self.made.append(client)
        return client

    async def aclose(self) -> None:
        for client in self.made:
            await client.aclose()


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[BkJobSimulator]:
    """Return a started simulator made with ``SIM_DEFAULTS``, or with the options of the closest
    ``pytest.mark.sim`` (a test's, its class's or its module's ``pytestmark``)."""
    marker = request.node.get_closest_marker("sim")
    options = SIM_DEFAULTS if marker is None else marker.kwargs
    async with BkJobSimulator(**options) as simulator:
        yield simulator


#: Where ``make_client`` aims when the test uses neither ``sim`` nor ``server``: nothing listens
#: there, so a client made without its own ``base_url`` or ``transport`` cannot reach a bk-job.
NOWHERE = "http://127.0.0.1:1"


@pytest.fixture
def bkjob_url(request: pytest.FixtureRequest) -> str:
    """Return the URL of the bk-job the test talks to: ``sim`` when it uses it, else ``server``
    when it uses that, else ``NOWHERE`` (its clients bring their own ``base_url``/``transport``)."""
    for name in ("sim", "server"):
        if name in request.fixturenames:
            url: str = request.getfixturevalue(name).url
            return url
    return NOWHERE


@pytest.fixture
async def make_client(bkjob_url: str, fake_sleep: FakeSleep) -> AsyncIterator[Clients]:
    """Return a factory of clients aimed at ``bkjob_url`` (``Clients``): the simulator, the recording
    server or nowhere; every client it made is closed after the test."""
    clients = Clients(bkjob_url, fake_sleep)
    try:
        yield clients
    finally:
        await clients.aclose()


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    """Return the poll engine's scripted server, served on 127.0.0.1."""
    server = ScriptedServer()
    async with serve(server) as http:
        server.url = http.url
        try:
            yield server
        finally:
            server.released.set()


@pytest.fixture
async def client(scripted: ScriptedServer) -> AsyncIterator[BkJobClient]:
    """Return a client on ``scripted`` (a test module may define its own ``client``)."""
    async with BkJobClient(
        scripted.url, app_code="app", app_secret="s3cret", username="admin"
    ) as c:
        yield c


@pytest.fixture
async def poller(client: BkJobClient) -> AsyncIterator[Poller]:
    """Return a poller on ``client`` with the engine tests' fast policy."""
    async with Poller(client, policy=FAST) as p:
        yield p


def closed_port_url() -> str:
    """Return a URL on 127.0.0.1 at a port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


#: What a ``RawServer`` answer writes on its own: anything, at its own pace.
RawWriter = Callable[[asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A TCP server on 127.0.0.1 that reads each request and answers it with the next of
    ``answers`` (in turn), then closes the connection. ``served`` counts answers.

    Kept beside ``testing.serve`` for what a handler cannot say: a handler's ``Response`` is a
    whole, well-framed answer (or a connection dropped, or cut after part of its body), and
    these are not. An answer is bytes sent as they are (garbled HTTP framing, say), or an
    async function that writes on the socket itself (``RawWriter``: a body that trickles, never
    ends, or promises more than it sends; see ``chunked``). Those still running when the
    server stops are cancelled.
    """

    def __init__(self, *answers: bytes | RawWriter) -> None:
        self.answers, self.served, self.url = answers, 0, ""
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> RawServer:
        self._tcp = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._tcp.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._tcp is not None:
            self._tcp.close()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._tcp.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await reader.read(65536)
            answer = self.answers[self.served % len(self.answers)]
            self.served += 1
            if isinstance(answer, bytes):
                writer.write(answer)
                await writer.drain()
            else:
                await answer(writer)
        except ConnectionError:
            pass  # the client hung up first: what the test may well want
        finally:
            self._tasks.discard(task)
            writer.close()


def chunked(data: bytes) -> bytes:
    """Return ``data`` as one chunk of a ``Transfer-Encoding: chunked`` body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


#: The head of a 200 answer whose body comes in chunks (``chunked``), as aiohttp streams one.
CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def full_text(error: BaseException) -> str:
    """Return everything a log or a console could show of ``error``: str, repr, args, the
    traceback and chain, and an ``ApiError``'s permission and request ids."""
    parts = [str(error), repr(error), repr(error.args)]
    parts += traceback.format_exception(type(error), error, error.__traceback__)
    if isinstance(error, ApiError):
        parts += [repr(error.permission), str(error.request_id), str(error.job_request_id)]
    return "\n".join(parts)
