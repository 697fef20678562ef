"""The simulator's state: clock, jobs, plans and hosts; builds jobs from plans, serves no HTTP.

The clock is real (epoch ms = wall time at construction + monotonic time since), virtual
(a fixed epoch that only ``advance`` moves), or follows a time source the caller gives (wall
time at construction + the source's seconds since, e.g. a virtual-time event loop's ``time``).
Everything time-dependent reads ``now_ms``.
"""

from __future__ import annotations

import heapq
import json
import random
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ..config import Scope
from ..models.enums import JobStatus, LaunchMode, StepType, TaskType
from ._engine import Defaults, Engine, Job, Step
from ._hosts import Inventory, SimHost
from ._plan import HostPlan, PlanVar, RunningJobQuota, StepPlan
from ._quota import Slots
from ._store import Store

if TYPE_CHECKING:
    import datetime as _dt

    from ..models import Host

__all__ = ["VIRTUAL_EPOCH_MS", "Clock", "Plan", "World"]

#: Where a virtual clock starts: 2025-01-01 00:00:00 UTC.
VIRTUAL_EPOCH_MS = 1_735_689_600_000
_DEFAULT_STEP_NAMES = {
    StepType.SCRIPT: "Run script",
    StepType.FILE: "Transfer files",
    StepType.MANUAL_CONFIRM: "Confirm",
    StepType.SQL: "Run SQL",
}


class Clock:
    """Simulated time in epoch milliseconds: wall-anchored real time, virtual time, or time
    that follows ``source`` (seconds on any origin; never goes back, even if the source does)."""

    def __init__(self, *, virtual: bool, source: Callable[[], float] | None = None) -> None:
        #: Only ``advance`` moves the clock (no source, no real time).
        self.virtual = virtual and source is None
        self.epoch_ms = VIRTUAL_EPOCH_MS if self.virtual else int(time.time() * 1000)
        #: Seconds as the clock counts them: the source's, else the machine's monotonic time.
        self.seconds: Callable[[], float] = source or time.monotonic
        self._follows = source is not None
        self._origin = self.seconds()
        self._offset_ms = 0
        self._last_ms = self.epoch_ms

    def now_ms(self) -> int:
        """Return the current simulated time as epoch milliseconds."""
        if self.virtual:
            return self.epoch_ms + self._offset_ms
        now = self.epoch_ms + self._offset_ms + int((self.seconds() - self._origin) * 1000)
        if now < self._last_ms:  # a source that went back holds the clock where it was
            return self._last_ms
        self._last_ms = now
        return now

    def advance(self, seconds: float) -> None:
        """Move a virtual clock, or one that follows a source, forward."""
        if not (self.virtual or self._follows):
            raise RuntimeError("advance() needs BkJobSimulator(virtual_clock=True) or a source")
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        self._offset_ms += round(seconds * 1000)


@attrs.define(eq=False)
class Plan:
    """A registered job plan that ``execute_job_plan`` (v2 ``execute_job``) instantiates.

    ``variables`` are its global variables; ``outputs`` the values its last script step sets
    when it succeeds. bk-job keeps a plan's times in epoch seconds (``create_s``).
    """

    plan_id: int
    steps: tuple[StepPlan, ...]
    name: str
    scope: Scope | None
    variables: tuple[PlanVar, ...] = attrs.field(default=(), kw_only=True)
    outputs: dict[str, str] = attrs.field(factory=dict, kw_only=True)
    creator: str = attrs.field(default="admin", kw_only=True)
    create_s: int = attrs.field(default=0, kw_only=True)
    template_id: int = attrs.field(kw_only=True)

    @template_id.default
    def _template_id(self) -> int:
        return self.plan_id + 100_000


class World:
    """Own the jobs and build them; the HTTP layer and the public facade both go through it."""

    def __init__(
        self,
        *,
        seed: int,
        clock: Clock,
        defaults: Defaults,
        retry_lag_ms: int,
        stop_delay_ms: int,
        server_tz: _dt.tzinfo,
        operation_lag: tuple[float, float] = (0.0, 0.0),
        quota: RunningJobQuota | None = None,
    ) -> None:
        self.seed, self.clock, self.tz = seed, clock, server_tz
        self.engine = Engine(
            defaults=defaults,
            retry_lag_ms=retry_lag_ms,
            stop_delay_ms=stop_delay_ms,
            operation_lag=operation_lag,
            seed=seed,
        )
        self.inventory = Inventory(seed)
        self.jobs: dict[int, Job] = {}
        #: Per scope, its jobs oldest first: ids and creation times both ascend (the clock
        #: never goes back), so a creation window is two bisections.
        self.by_scope: dict[Scope, list[Job]] = {}
        self.plans: dict[int, Plan] = {}
        #: The jobs holding a running-job slot, and the quota launches are checked against.
        self.slots = Slots(quota)
        #: What a launched job does on a host, by ``bk_host_id`` and by ``(bk_cloud_id, ip)``.
        self.host_plans: dict[object, HostPlan] = {}
        #: Scripts, accounts, credentials, file sources, cron jobs, dangerous-command rules,
        #: account passwords and step launches (``_store``).
        self.store = Store()
        #: A plan job's global variables as launched: name -> (type, value).
        self.job_vars: dict[int, dict[str, tuple[int, str]]] = {}
        #: Jobs with a ``callback_url`` to look at again: a heap of (when, job id), and when
        #: each is due (an entry that does not match is stale). ``on_callback`` wakes the sender.
        self._callback_heap: list[tuple[int, int]] = []
        self._callback_due: dict[int, int] = {}
        self._callback_sent: dict[int, tuple[int | None, int]] = {}
        self.on_callback: Callable[[], None] | None = None
        self._sending = False
        self._next_job_id = 10_001
        self._next_step_id = 20_001
        self.cache_hits = self.cache_misses = 0
        #: What a script prints on a host (``BkJobSimulator.set_log_output``): its log handlers
        #: add it to the host's log as the host runs, all of it once the host has ended.
        self.log_output: Callable[[int, int, Host], str | None] | None = None

    def now_ms(self) -> int:
        """Return the simulated time in epoch milliseconds."""
        return self.clock.now_ms()

    def job(self, job_id: int) -> Job:
        """Return job ``job_id`` settled up to now, or raise ``KeyError``."""
        job = self.jobs[job_id]
        self.engine.settle(job, self.now_ms())
        return job

    def create_job(
        self,
        scope: Scope,
        steps: Sequence[StepPlan],
        *,
        name: str | None = None,
        start: bool = True,
        operator: str = "admin",
        targets: Sequence[Sequence[SimHost] | None] | None = None,
        launch_mode: LaunchMode = LaunchMode.API,
        task_type: TaskType = TaskType.PLAN,
        plan: Plan | None = None,
        app_code: str = "",
        callback_url: str | None = None,
    ) -> Job:
        """Create (and by default start) a job running ``steps`` in order."""
        if not steps:
            raise ValueError("a job needs at least one step")
        job_id, now = self._next_job_id, self.now_ms()
        self._next_job_id += 1
        job = Job(
            id=job_id,
            scope=scope,
            name=name or (plan.name if plan else f"sim-job-{job_id}"),
            operator=operator,
            create=now,
            rng=random.Random(f"{self.seed}:{job_id}"),
            launch_mode=int(launch_mode),
            task_type=int(task_type),
            plan_id=plan.plan_id if plan else -1,
            template_id=plan.template_id if plan else -1,
            app_code=app_code,
            callback_url=callback_url,
        )
        base = job.rng.randrange(1 << 16)
        for index, step_plan in enumerate(steps):
            hosts = targets[index] if targets else None
            job.steps.append(self._new_step(job, index, step_plan, hosts, base, plan))
        self.jobs[job_id] = job
        self.by_scope.setdefault(scope, []).append(job)
        if start:
            self.engine.start_job(job, now)
        self.touched(job)
        return job

    # -- callbacks ------------------------------------------------------------------------------

    def quota_refusal(self, scope: Scope, app_code: str) -> int | None:
        """Return bk-job's code refusing a launch now for the running-job quota, or ``None``."""
        slots = self.slots
        slots.refresh(self.engine, self.now_ms())
        code = slots.refusal(scope, app_code)
        slots.refused += code is not None
        return code

    def running(self, scope: Scope | None = None) -> int:
        """Return how many jobs hold a running-job slot now (of ``scope``, or in all)."""
        slots = self.slots
        slots.refresh(self.engine, self.now_ms())
        return len(slots.held) if scope is None else slots.by_scope[scope]

    def plan_host(self, plan: HostPlan) -> None:
        """Have every job launched from now on run ``plan`` on the host it names."""
        if plan.bk_host_id is not None:
            self.host_plans[plan.bk_host_id] = plan
        elif plan.ip or plan.ipv6:
            self.host_plans[(plan.bk_cloud_id, plan.ip or plan.ipv6)] = plan
        else:
            raise ValueError("a host's plan names its host: bk_host_id, or ip (and bk_cloud_id)")

    def _planned(self, host: SimHost) -> HostPlan | None:
        plans = self.host_plans
        if not plans:
            return None
        found = plans.get(host.bk_host_id)
        if found is None:
            found = plans.get((host.bk_cloud_id, host.ip or host.ipv6))
        return found

    def touched(self, job: Job) -> None:
        """Note that ``job`` may end at a new time (created, started, operated on)."""
        now = self.now_ms()
        self.slots.refresh(self.engine, now)
        self.slots.touched(job, now)
        if not job.callback_url:
            return
        if job.status.is_finished and self._callback_sent.get(job.id) != _end_of(job):
            at = self.now_ms()  # ended, not yet reported
        elif job.events:
            at = job.events[0][0]
        else:
            return  # waits for a person or an operation: touched again then
        due = self._callback_due.get(job.id)
        if due is None or at < due:
            self._callback_due[job.id] = at
            heapq.heappush(self._callback_heap, (at, job.id))
            if self.on_callback is not None and not self._sending:
                self.on_callback()

    def due_callbacks(self) -> list[tuple[str, bytes]]:
        """Return ``(url, body)`` of each job that ended since it was last reported.

        bk-job calls a job's ``callback_url`` each time the job ends (a retried job that ends
        again calls it again), with ``JobCallbackDTO`` as Jackson writes it.
        """
        now, found = self.now_ms(), list[tuple[str, bytes]]()
        self._sending = True  # the sender is the caller: no need to wake it
        try:
            self._pop_due(now, found)
        finally:
            self._sending = False
        return found

    def _pop_due(self, now: int, found: list[tuple[str, bytes]]) -> None:
        heap = self._callback_heap
        while heap and heap[0][0] <= now:
            at, job_id = heapq.heappop(heap)
            if self._callback_due.get(job_id) != at:
                continue  # stale: the job was rescheduled earlier
            del self._callback_due[job_id]
            job = self.jobs[job_id]
            self.engine.settle(job, now)
            end = _end_of(job)
            if job.status.is_finished and self._callback_sent.get(job_id) != end:
                self._callback_sent[job_id] = end
                found.append((str(job.callback_url), callback_body(job)))
            self.touched(job)

    def next_callback_at(self) -> int | None:
        """Return when (epoch ms) a tracked job may next end, or ``None`` if none can."""
        heap = self._callback_heap
        while heap and self._callback_due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # -- history ---------------------------------------------------------------------------------

    def window(self, scope: Scope, start_ms: int, end_ms: int) -> tuple[list[Job], int, int]:
        """Return the scope's jobs (oldest first) and the index range created in the window."""
        jobs = self.by_scope.get(scope, [])
        low = bisect_left(jobs, start_ms, key=_created)
        high = bisect_right(jobs, end_ms, key=_created)
        return jobs, low, max(low, high)

    def _new_step(
        self,
        job: Job,
        index: int,
        plan: StepPlan,
        hosts: Sequence[SimHost] | None,
        base: int,
        job_plan: Plan | None,
    ) -> Step:
        rows: Sequence[HostPlan | None]
        if plan.type is StepType.MANUAL_CONFIRM:
            hosts, rows = (), ()
        elif isinstance(plan.hosts, int):
            hosts = hosts or [self.inventory.host(base + i) for i in range(plan.host_count)]
            rows = [self._planned(host) for host in hosts]
        else:
            rows = plan.hosts
            hosts = hosts or [
                self._host_for(row, self.inventory.host(base + i)) for i, row in enumerate(rows)
            ]
        if len(rows) != len(hosts):
            rows = [self._planned(host) for host in hosts]
        step_id = self._next_step_id
        self._next_step_id += 1
        return Step(
            owner=job,
            index=index,
            id=step_id,
            plan=plan,
            hosts=tuple(hosts),
            host_plans=tuple(rows),
            name=plan.name or f"{_DEFAULT_STEP_NAMES.get(plan.type, 'Step')} {index + 1}",
            create=job.create,
            operator=job.operator,
            step_id=-1 if job_plan is None else job_plan.plan_id * 100 + index + 1,
        )

    def _host_for(self, row: HostPlan, default: SimHost) -> SimHost:
        if row.bk_host_id is None and row.ip is None and row.ipv6 is None and not row.bk_cloud_id:
            return default
        if row.bk_host_id is not None:
            base = self.inventory.by_id(row.bk_host_id)
        elif row.ip or row.ipv6:
            base = self.inventory.by_ip(row.ip or row.ipv6 or "", row.bk_cloud_id)
        else:
            base = default
        return SimHost(
            base.bk_host_id,
            base.ip if row.ip is None else row.ip,
            row.bk_cloud_id,
            base.ipv6 if row.ipv6 is None else row.ipv6,
        )

    def add_plan(
        self,
        plan_id: int,
        steps: Sequence[StepPlan],
        name: str | None,
        scope: Scope | None,
        *,
        variables: Sequence[PlanVar] = (),
        outputs: Mapping[str, str] | None = None,
    ) -> Plan:
        """Register a job plan for ``execute_job_plan``."""
        if not steps:
            raise ValueError("a plan needs at least one step")
        names = [v.name for v in variables]
        if len(set(names)) != len(names):
            raise ValueError("two plan variables have the same name")
        plan = self.plans[plan_id] = Plan(
            plan_id,
            tuple(steps),
            name or f"sim-plan-{plan_id}",
            scope,
            variables=tuple(variables),
            outputs=dict(outputs or {}),
            create_s=self.now_ms() // 1000,
        )
        return plan

    def hosts_from_target(self, target: Mapping[str, Any]) -> list[SimHost]:
        """Resolve a ``target_server`` (or v2 ``ip_list``) into hosts, deduplicated by id."""
        hosts: list[SimHost] = []
        for host_id in _ints(target.get("host_id_list")):
            hosts.append(self.inventory.by_id(host_id))
        for item in _dicts(target.get("ip_list")):
            ip = str(item.get("ip") or item.get("ipv6") or "")
            host_id = _int(item.get("bk_host_id"), -1)
            if host_id > 0:
                hosts.append(self.inventory.by_id(host_id))
            elif ip:
                hosts.append(self.inventory.by_ip(ip, _int(item.get("bk_cloud_id"), 0)))
        groups = [*_dicts(target.get("dynamic_group_list")), *_dicts(target.get("topo_node_list"))]
        for group in groups:
            seed = sum(ord(char) * 31**i for i, char in enumerate(str(group.get("id", ""))))
            hosts.extend(self.inventory.host(seed % (1 << 16) * 3 + i) for i in range(3))
        for kube_filter in _dicts(target.get("kube_container_filters")):
            hosts.extend(self.inventory.containers(kube_filter))
        unique = {host.bk_host_id: host for host in hosts}
        return list(unique.values())

    def jobs_in(self, scope: Scope) -> Iterable[Job]:
        """Yield the jobs of one scope, newest first, settled up to now."""
        now = self.now_ms()
        for job in reversed(self.by_scope.get(scope, [])):
            self.engine.settle(job, now)
            yield job

    def count_by_status(self) -> dict[JobStatus, int]:
        """Return how many jobs are in each status now."""
        now, counts = self.now_ms(), dict[JobStatus, int]()
        for job in self.jobs.values():
            self.engine.settle(job, now)
            counts[job.status] = counts.get(job.status, 0) + 1
        return counts


def callback_body(job: Job) -> bytes:
    """Return the JSON bk-job posts to a job's ``callback_url`` (``JobCallbackDTO``)."""
    steps = [{"step_instance_id": step.id, "status": int(step.status)} for step in job.steps]
    body = {"job_instance_id": job.id, "status": int(job.status), "step_instances": steps}
    return json.dumps(body, separators=(",", ":")).encode()


def _end_of(job: Job) -> tuple[int | None, int]:
    return job.end, int(job.status)


def _created(job: Job) -> int:
    return job.create


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _ints(value: object) -> list[int]:
    if not isinstance(value, list):
        return []
    return [number for number in (_int(item, -1) for item in value) if number > 0]


def _dicts(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]
