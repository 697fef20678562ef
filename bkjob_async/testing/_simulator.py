"""Rule: ``BkJobSimulator`` runs no background task per job; jobs advance when looked at.

``BkJobSimulator``: the public facade that owns the world, the faults and the HTTP server.

Rule: no background task per job. Every job advances lazily when a request (or ``job()``)
looks at it, from the simulator clock. Besides its HTTP server (``serve`` of its HTTP layer,
the handler ``transport()`` hands a client in memory), the started simulator runs
one task group of its own, the callback sender (``_callbacks``), which wakes when a job with a
``callback_url`` may have ended. That group lives in one task the simulator starts and joins
(not in the caller's task), so ``start()`` and ``aclose()`` may be called anywhere, in any
nesting of cancel scopes, as before.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import attrs

from ..config import DEFAULT_SERVER_TZ, ApiFlavor, Scope
from ..models.enums import JobStatus
from ._callbacks import CallbackSender
from ._engine import Defaults
from ._faults import Fault, FaultKind, FaultRule, FaultRules
from ._mock import in_memory
from ._plan import HostPlan, RunningJobQuota, Span, StepPlan, to_span
from ._serve import HandlerServer
from ._server import HttpLayer, RateWindow
from ._setup import CatalogSetup
from ._views import JobView, job_view
from ._world import Clock, World

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from ssl import SSLContext

    from ..models import Host
    from ._mock import MockTransport

__all__ = ["BkJobSimulator", "SimulatorStats"]

_log = logging.getLogger("bkjob_async.testing")


@attrs.frozen
class SimulatorStats:
    """A snapshot of what the simulator served."""

    requests: int
    requests_by_api: dict[tuple[str, ApiFlavor], int]
    faults_served: dict[FaultKind, int]
    rate_limited: int
    cache_hits: int
    cache_misses: int
    jobs: int
    jobs_by_status: dict[JobStatus, int]
    #: Job-end callbacks posted (first posts), posted again (after a non-200), answered 200
    #: (at either post), failed (no 200 after both, or no answer), and refused by the
    #: egress whitelist (``set_callback_whitelist``).
    callbacks_sent: int = 0
    callbacks_retried: int = 0
    callbacks_delivered: int = 0
    callbacks_failed: int = 0
    callbacks_dropped: int = 0
    #: Launches refused for the running-job quota (1244032-1244034; v4 429).
    quota_refused: int = 0


class BkJobSimulator(CatalogSetup, anyio.abc.AsyncResource):
    """A faithful, embeddable bk-job server: gateway v3, ESB jobv3 and ESB v2 paths at once.

    Use it as an async context manager; ``url`` says where it listens. Or, with no socket at
    all, hand ``transport()`` to a client (``BkJobClient(..., transport=sim.transport())``):
    the same world, faults and wire answers, in memory. Jobs come from the launch
    APIs or from ``create_job``; they progress on the simulator clock (real by default; with
    ``virtual_clock=True`` only ``advance`` moves it; with ``virtual_clock=loop.time``, any
    function of seconds, it moves as that does, so on a virtual-time event loop the simulator
    over ``transport()`` keeps the loop's time; callbacks are timed on the running loop's
    clock, so a source should count seconds as it does). ``seed`` makes hosts, ids and outcomes
    repeatable. ``apps`` maps app codes to secrets (``None`` accepts any non-empty pair).

    It is as strict and as slow as bk-job (spec §7): v3 ignores ``ip_list`` when
    ``host_id_list`` is non-empty; v2 reads ``target_server`` alone when present and fails a row
    without ``ip`` (1240002); IPv6 in ``ip_list``, timeouts over 259200 s and callback URLs
    that are not http(s) or carry user info are 1240003; a relative file path is 1241007
    naming ``file_target_path`` (1241005 naming the source's files); operations answer
    before the step changes (``operation_lag``); rolling steps report 15 between batches; file
    hosts fail with file statuses (202 by default); a gateway 429 carries no ``Retry-After``
    unless ``set_rate_limit(..., retry_after=True)``.

    A started simulator calls a job's ``callback_url`` when the job ends, as bk-job does: the
    JSON ``{job_instance_id, status, step_instances[{step_instance_id, status}]}``, posted
    once more labelled ``application/x-www-form-urlencoded`` after any answer but HTTP 200,
    never more; ``set_callback_whitelist`` drops some, as bk-job's egress whitelist does.

    :param retry_lag: seconds between a retry's ``execute_count`` bump and the step/host reset
    :param operation_lag: seconds bk-job's message queue takes to apply the other operations:
        a number, or a ``(min, max)`` range sampled repeatably from ``seed``. As in bk-job, the
        answer to ``operate_step_instance`` changes only the job's status and
        ``execute_count`` (the status to 2, for codes 3, 6, 11 and 13). The other operations
        change the step this much later: ignore-error, confirm-continue/terminate/restart,
        next-step, skip and rolling-continue. Terminate sets the job to 10 this much later.
        Wait for the change, as a real caller must. The same lag separates two rolling
        batches (the step reports 15 in between).
    :param stop_delay: seconds GSE takes to confirm a force-termination
    :param host_duration: seconds a host runs, for hosts whose plan does not say
    :param host_start_delay: seconds a host waits (status 5) before it runs
    :param fail_rate: chance that a generated host fails, for steps whose plan does not say
    :param ssl: serve HTTPS with this server-side ``ssl.SSLContext`` (``url`` is then
        ``https://``): test internal CAs and mutual TLS (``verify_mode = CERT_REQUIRED``)
    :param quota: bk-job's running-job quota (``RunningJobQuota(scope=50)``; ``None``: none,
        bk-job's default). A job holds a slot of its scope, its app and the system from its
        creation until it ends, in any final status. ``start_task=false`` holds one too:
        bk-job counts a job when it creates it, and START checks nothing. A launch is refused
        while a count is at its limit. v3 answers HTTP 200 with bk-job's code: 1244034 system,
        1244032 scope, 1244033 app, checked in that order. v4 answers HTTP 429
        ``RESOURCE_EXHAUSTED``. ``running_jobs`` and ``peak_running`` count the slots held,
        quota or not.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        virtual_clock: bool | Callable[[], float] = False,
        host: str = "127.0.0.1",
        port: int = 0,
        apps: Mapping[str, str] | None = None,
        retry_lag: float = 0.5,
        operation_lag: Span = 0.2,
        stop_delay: float = 1.0,
        host_duration: Span = (1.0, 3.0),
        host_start_delay: Span = (0.0, 0.5),
        fail_rate: float = 0.0,
        server_tz: _dt.tzinfo = DEFAULT_SERVER_TZ,
        ssl: SSLContext | None = None,
        quota: RunningJobQuota | None = None,
    ) -> None:
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError("fail_rate must be within [0, 1]")
        if retry_lag < 0 or stop_delay < 0:
            raise ValueError("retry_lag and stop_delay cannot be negative")
        defaults = Defaults(to_span(host_duration), to_span(host_start_delay), fail_rate)
        self._world = World(
            seed=seed,
            clock=Clock(
                virtual=virtual_clock is True,
                source=None if isinstance(virtual_clock, bool) else virtual_clock,
            ),
            defaults=defaults,
            retry_lag_ms=round(retry_lag * 1000),
            stop_delay_ms=round(stop_delay * 1000),
            server_tz=server_tz,
            operation_lag=to_span(operation_lag),
            quota=quota,
        )
        self._faults = FaultRules(seed)
        self._http = HttpLayer(
            self._world, self._faults, apps=dict(apps) if apps else None, seed=seed
        )
        self._host, self._port, self._ssl = host, port, ssl
        self._server: HandlerServer | None = None
        self._url: str | None = None
        self._callbacks = CallbackSender(self._world)
        self._sender: asyncio.Task[None] | None = None
        self._sender_scope: anyio.CancelScope | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> BkJobSimulator:
        await self.start()
        return self

    async def start(self) -> None:
        """Start serving; the simulator can be started once."""
        if self._server is not None:
            raise RuntimeError("the simulator is already started")
        server = HandlerServer(self._http, host=self._host, port=self._port, ssl=self._ssl)
        await server.start()
        self._server, self._url = server, server.url
        ready = asyncio.get_running_loop().create_future()
        self._sender = asyncio.get_running_loop().create_task(self._send_callbacks(ready))
        try:
            await ready
        except BaseException:
            await self.aclose()
            raise
        self._world.on_callback = self._callbacks.wake

    async def _send_callbacks(self, ready: asyncio.Future[None]) -> None:
        """Host the simulator's task group: the callback sender, until ``aclose``."""
        try:
            async with anyio.create_task_group() as group:
                self._sender_scope = group.cancel_scope
                await group.start(self._callbacks.run)
                ready.set_result(None)
        except BaseException as error:
            if not ready.done():
                ready.set_exception(error)
            raise

    async def aclose(self) -> None:
        """Stop serving, stop sending callbacks, and close every connection."""
        sender, self._sender = self._sender, None
        server, self._server = self._server, None
        self._world.on_callback = None
        with anyio.CancelScope(shield=True):  # closed even when the caller is cancelled
            if sender is not None:
                if self._sender_scope is not None:
                    self._sender_scope.cancel()
                else:
                    sender.cancel()
                await asyncio.wait([sender])
                if not sender.cancelled() and sender.exception() is not None:
                    _log.error("the callback sender failed", exc_info=sender.exception())
            if server is not None:
                await server.aclose()

    def transport(self) -> MockTransport:
        """Return a transport that serves this simulator in memory: no socket, no port.

        Answers are the ones the HTTP server sends, byte for byte (statuses, headers, bodies,
        faults); a ``reset`` fault raises ``TransportError`` as a dropped connection does. The
        simulator need not be started; give the client any base URL.
        """
        return in_memory(self._http)

    @property
    def url(self) -> str:
        """Return the base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._url is None:
            raise RuntimeError("the simulator is not started")
        return self._url

    # -- jobs -----------------------------------------------------------------------------------

    def create_job(
        self,
        scope: Scope | int,
        steps: Sequence[StepPlan],
        *,
        name: str | None = None,
        start: bool = True,
        operator: str = "admin",
        callback_url: str | None = None,
    ) -> int:
        """Create a job running ``steps`` in order, started now unless ``start=False``.

        ``callback_url`` is called when the job ends, as a launch's is.
        """
        scope = scope if isinstance(scope, Scope) else Scope.biz(scope)
        job = self._world.create_job(
            scope, steps, name=name, start=start, operator=operator, callback_url=callback_url
        )
        return job.id

    def plan_hosts(self, *plans: HostPlan) -> None:
        """Script what every job launched from now on does on the hosts these plans name.

        Each ``HostPlan`` names its host by ``bk_host_id`` (else ``ip``/``ipv6`` and
        ``bk_cloud_id``) and says how it ends there (``outcome``, ``retry_outcomes``,
        ``exit_code``, ``tag``) and when (``duration``, ``start_delay``): "host 7 fails with
        104 after 30 s". A later plan for the same host replaces the earlier one; hosts with
        none run as the simulator's defaults say. Jobs of ``create_job`` with a count of hosts
        follow them too.
        """
        for plan in plans:
            self._world.plan_host(plan)

    def set_quota(self, quota: RunningJobQuota | None) -> None:
        """Change the running-job quota (``None``: none); the jobs holding slots keep them."""
        self._world.slots.quota = quota or RunningJobQuota()

    def running_jobs(self, scope: Scope | int | None = None) -> int:
        """Return how many jobs hold a running-job slot now: created, not ended (of ``scope``)."""
        chosen = None if scope is None else scope if isinstance(scope, Scope) else Scope.biz(scope)
        return self._world.running(chosen)

    def peak_running(self, scope: Scope | int | None = None) -> int:
        """Return the most jobs that held a running-job slot at once (in ``scope``, or in all)."""
        slots = self._world.slots
        if scope is None:
            return slots.peak
        return slots.peak_by_scope[scope if isinstance(scope, Scope) else Scope.biz(scope)]

    def job(self, job_id: int) -> JobView:
        """Return a snapshot of job ``job_id`` now, or raise ``KeyError``."""
        return job_view(self._world.job(job_id), self._world.now_ms())

    def job_ids(self) -> list[int]:
        """Return every job id, oldest first."""
        return sorted(self._world.jobs)

    # -- time -----------------------------------------------------------------------------------

    def now(self) -> float:
        """Return the simulator clock in seconds since it started."""
        clock = self._world.clock
        return (clock.now_ms() - clock.epoch_ms) / 1000

    def now_ms(self) -> int:
        """Return the simulator clock as the epoch milliseconds the v3 API reports."""
        return self._world.now_ms()

    def utcnow(self) -> _dt.datetime:
        """Return the simulator clock as an aware UTC time: a poller's ``wall`` on virtual time
        (``Poller(client, wall=sim.utcnow)``), whose job-list windows must follow bk-job's
        clock, not the machine's."""
        return _dt.datetime.fromtimestamp(self._world.now_ms() / 1000, _dt.timezone.utc)

    def advance(self, seconds: float) -> None:
        """Move the virtual clock (or one that follows a source) forward; ``RuntimeError`` on a
        real clock.

        Callbacks of the jobs that ended meanwhile are sent soon after (by the simulator's
        task, once the caller lets it run).
        """
        self._world.clock.advance(seconds)
        self._callbacks.wake()

    # -- faults and limits ----------------------------------------------------------------------

    def inject(
        self,
        fault: Fault,
        *,
        api: str | None = None,
        flavor: ApiFlavor | str | None = None,
        times: int | None = 1,
        skip: int = 0,
        rate: float = 1.0,
    ) -> FaultRule:
        """Apply ``fault`` to the next ``times`` matching requests (``None``: all) after ``skip``.

        With ``rate`` below 1 each matching request takes it with that chance (repeatably, from
        ``seed``): ``inject(Fault.reset(), api="fast_execute_script", times=None, rate=0.05)``
        loses 5% of the script launches' answers after bk-job created their jobs.
        """
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        if not 0.0 < rate <= 1.0:
            raise ValueError("rate must be within (0, 1]")
        chosen = None if flavor is None else ApiFlavor.coerce(flavor)
        return self._faults.add(FaultRule(fault, api, chosen, times, skip, rate=rate))

    def clear_faults(self) -> None:
        """Forget every injected fault."""
        self._faults.clear()

    def set_rate_limit(self, rps: float | None, *, retry_after: bool = False) -> None:
        """Limit all APIs together to ``rps`` requests per second (``None``: off), of real time,
        or of the clock's source when ``virtual_clock`` is one.

        A refused gateway request is HTTP 429 with only the ``X-Bkapi-RateLimit-Limit``,
        ``-Remaining``, ``-Reset`` and ``-Plugin`` headers, as bk-job's gateway sends it (no
        ``Retry-After``); ``retry_after=True`` adds a ``Retry-After`` header too. The ESB
        answers 1306429 at HTTP 200.
        """
        if rps is not None and rps <= 0:
            raise ValueError("rps must be > 0 or None")
        self._http.window = None if rps is None else RateWindow(rps, self._world.clock.seconds)
        self._http.retry_after = retry_after

    # -- logs -----------------------------------------------------------------------------------

    def set_log_output(self, output: Callable[[int, int, Host], str | None] | None) -> None:
        """Print ``output(job_instance_id, step_instance_id, host)`` in each host's script log
        (``None`` or ``""``: nothing), as a script's own output: line by line while the host
        runs (its share of the lines is its share of its duration), all of it once it has
        ended, the first ``MAX_LOG_BYTES`` only, as bk-job keeps them;
        ``set_log_output(None)`` prints nothing more. Markers such as bk-sops'
        ``<SOPS_VAR>key:value</SOPS_VAR>`` or dbm's ``<ctx>{...}</ctx>`` go here.
        """
        if output is not None and not callable(output):
            raise TypeError("output must be a function (job id, step id, Host) -> str, or None")
        self._world.log_output = output

    # -- callbacks ------------------------------------------------------------------------------

    def set_callback_whitelist(self, allow: Callable[[str], bool] | None) -> None:
        """Send a job's callback only if ``allow(callback_url)`` (``None``: to any URL).

        As bk-job's egress whitelist (``CallbackUrlValidateService``): a URL it refuses is
        accepted at launch and its callbacks are dropped silently when the job ends
        (``statistics().callbacks_dropped``). ``lambda url: False`` drops them all.
        """
        self._callbacks.allow = allow

    # -- statistics -----------------------------------------------------------------------------

    def request_count(self, api: str | None = None, flavor: ApiFlavor | str | None = None) -> int:
        """Return how many requests reached an API route (all, one API, one flavor)."""
        chosen = None if flavor is None else ApiFlavor.coerce(flavor)
        return sum(
            count
            for (name, kind), count in self._http.counts.items()
            if (api is None or name == api) and (chosen is None or kind is chosen)
        )

    def statistics(self) -> SimulatorStats:
        """Return a snapshot of requests, faults, cache use and job statuses."""
        http, world = self._http, self._world
        return SimulatorStats(
            requests=sum(http.counts.values()),
            requests_by_api=dict(http.counts),
            faults_served=dict(http.faults_served),
            rate_limited=http.rate_limited,
            cache_hits=world.cache_hits,
            cache_misses=world.cache_misses,
            jobs=len(world.jobs),
            jobs_by_status=world.count_by_status(),
            callbacks_sent=self._callbacks.sent,
            callbacks_retried=self._callbacks.retried,
            callbacks_delivered=self._callbacks.delivered,
            callbacks_failed=self._callbacks.failed,
            callbacks_dropped=self._callbacks.dropped,
            quota_refused=world.slots.refused,
        )
