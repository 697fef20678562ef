"""Rule: the execution model has no I/O and no clock; a job changes only when settled.

The execution model: jobs whose steps run host rounds on a lazily evaluated per-job timeline.

Rule: no I/O and no clock in here. Every entry point takes the time as epoch milliseconds, and a
job changes only in ``Engine.settle`` (its due events, in time order) and in the operations,
which settle first. A host's status is a pure function of time (``Round.status``), so a job
needs no event per host, and polling it at any rate replays the same history.

The transitions follow bk-job (``JobListener``, ``GseStepEventHandler``,
``ConfirmStepEventHandler``, ``TaskExecuteServiceImpl``):

* job start: job 2, first step starts. A GSE step goes 2 and its hosts 5 -> 7 -> final; a
  manual-confirm step (and the job) wait at 7. A script or SQL host still running at the
  step's ``timeout`` ends then with 102 (script timeout), a failure like any other.
* round end: all hosts succeeded (9/3) -> step 3, else 4 (6 when errors are ignored); a rolling
  step waits at 15 between batches and starts the next one ``operation_lag`` later, or waits at
  7 in MANUAL mode. Step 3/5/6 -> next step or job 3; step 4/9/14 -> the job ends with that
  status.
* operations are asynchronous, as bk-job applies them through its message queue
  (``TaskExecuteServiceImpl``): the response only checks the preconditions, sets the *job* to 2
  (codes 2, 3, 6, 8, 11, 13) and bumps ``execute_count`` (2, 8). Every step change arrives
  ``operation_lag`` later (``retry_lag`` for retries) and is dropped if the step no longer
  allows it by then, like bk-job's event handlers re-checking.
* terminate: ``operation_lag`` later, job and running step 10; GSE kills unfinished hosts (403)
  ``stop_delay`` after that; step and job 11. A step waiting at 7 or 15 goes straight to 11.
* retry (2/8): ``retry_lag`` later the step goes 2 with a new round that copies the previous
  one and re-runs the failed (2) or all (8) hosts.

Each step operation's check and later change are a table (``OPERATIONS``, below); the engine holds
the timeline they act on.
"""

from __future__ import annotations

import heapq
import random
from array import array
from bisect import bisect_right
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import attrs

from ..config import Scope
from ..models.enums import HostStatus, JobStatus, StepOperation, StepType
from . import _codes as codes
from ._hosts import SimHost
from ._plan import HostPlan, RollingMode, StepPlan

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "INF",
    "NO_EXIT",
    "OPERATIONS",
    "RETRYABLE",
    "TRIGGER_ROLE",
    "Defaults",
    "Engine",
    "Job",
    "OpError",
    "Operation",
    "Round",
    "Step",
]


# --- operations ----------------------------------------------------------------------------------
#
# bk-job's step operations in the simulator, as a table: what each checks now, what it changes later.
#
# Rule: no I/O and no clock (the time comes in as epoch milliseconds). ``operate_step_instance``
# answers at once after checking the step's preconditions (``check``, which may set the job's
# status as bk-job's response already shows it); the step itself changes when bk-job's message
# queue applies the operation, ``operation_lag`` later (``apply``, ``None`` for a retry, which
# the engine's timeline runs ``retry_lag`` later), and only if the step still allows it then, as
# bk-job's step event handlers re-check the status (``TaskExecuteServiceImpl``,
# ``GseStepEventHandler``, ``ConfirmStepEventHandler``).

#: The step statuses a retry (failed hosts or all) is allowed from.
RETRYABLE = frozenset({JobStatus.FAIL, JobStatus.ABNORMAL_STATE, JobStatus.STOP_SUCCESS})
#: The confirm role that lets the user who launched the job confirm (``JobRoleEnum``).
TRIGGER_ROLE = "JOB_RESOURCE_TRIGGER_USER"


class OpError(Exception):
    """An operation the job's state refuses: carries bk-job's error code and message arguments."""

    def __init__(self, code: int, *args: object) -> None:
        super().__init__(code, *args)
        self.code = code
        self.args_ = args


class Operation(NamedTuple):
    """One step operation: its check when asked, and its change when bk-job applies it."""

    #: ``(engine, job, step, operator, t)``: raise ``OpError``, or answer (and set the job).
    check: Callable[[Engine, Job, Step, str, int], None]
    #: ``(engine, job, step, t)``, ``operation_lag`` later; ``None``: the check schedules it.
    apply: Callable[[Engine, Job, Step, int], None] | None


def _require(allowed: bool) -> None:
    if not allowed:
        raise OpError(codes.UNSUPPORTED_OPERATION)


def _revive(job: Job) -> None:
    """Set a job back to running, as the operation's response already shows it."""
    job.status, job.end, job.total = JobStatus.RUNNING, None, None


def _check_confirmer(job: Job, step: Step, operator: str) -> None:
    """Check like ``checkConfirmUser``: with no confirm role, any user may confirm (§7.14)."""
    if operator in step.plan.confirm_users or not step.plan.confirm_roles:
        return
    if TRIGGER_ROLE in step.plan.confirm_roles and operator == job.operator:
        return
    raise OpError(codes.NOT_A_CONFIRMER)  # the simulator knows no CMDB role members


def _confirming(job: Job, step: Step, operator: str) -> None:
    _require(step.type is StepType.MANUAL_CONFIRM and step.status is JobStatus.WAITING_USER)
    _check_confirmer(job, step, operator)


def _retry(retry_all: bool) -> Callable[[Engine, Job, Step, str, int], None]:
    def check(engine: Engine, job: Job, step: Step, _: str, t: int) -> None:
        _require(step.status in RETRYABLE)
        engine.retry(job, step, t, retry_all=retry_all)

    return check


def _check_ignore_error(engine: Engine, job: Job, step: Step, _: str, t: int) -> None:
    _require(step.status in (JobStatus.FAIL, JobStatus.ABNORMAL_STATE))
    _revive(job)


def _apply_ignore_error(engine: Engine, job: Job, step: Step, t: int) -> None:
    if step.status is JobStatus.FAIL:  # the step handler ignores an abnormal step (bk-job)
        step.status = JobStatus.IGNORE_ERROR
        engine.refresh(job, step, t)


def _check_confirm_continue(engine: Engine, job: Job, step: Step, operator: str, t: int) -> None:
    _confirming(job, step, operator)
    job.status = JobStatus.RUNNING


def _apply_confirm_continue(engine: Engine, job: Job, step: Step, t: int) -> None:
    if step.status is JobStatus.WAITING_USER:
        engine.finish_step(step, JobStatus.SUCCESS, t, step.total)
        engine.refresh(job, step, t)


def _check_confirm_terminate(engine: Engine, job: Job, step: Step, operator: str, t: int) -> None:
    _confirming(job, step, operator)


def _apply_confirm_terminate(engine: Engine, job: Job, step: Step, t: int) -> None:
    if step.status is JobStatus.WAITING_USER:
        engine.finish_step(step, JobStatus.CONFIRM_TERMINATED, t, step.total)
        engine.finish_job(job, JobStatus.CONFIRM_TERMINATED, t)


def _check_confirm_restart(engine: Engine, job: Job, step: Step, _: str, t: int) -> None:
    _require(step.status is JobStatus.CONFIRM_TERMINATED and step.type is StepType.MANUAL_CONFIRM)


def _apply_confirm_restart(engine: Engine, job: Job, step: Step, t: int) -> None:
    if step.status is JobStatus.CONFIRM_TERMINATED:
        step.status, step.start, step.end, step.total = JobStatus.WAITING_USER, t, None, None
        job.status, job.end, job.total = JobStatus.WAITING_USER, None, None


def _check_next_step(engine: Engine, job: Job, step: Step, _: str, t: int) -> None:
    _require(step.status is JobStatus.STOP_SUCCESS)
    _revive(job)


def _apply_next_step(engine: Engine, job: Job, step: Step, t: int) -> None:
    if step.status is JobStatus.STOP_SUCCESS:
        engine.finish_step(step, JobStatus.SKIPPED, t, step.total)
        engine.refresh(job, step, t)


def _check_skip(engine: Engine, job: Job, step: Step, _: str, t: int) -> None:
    _require(step.status is JobStatus.STOPPING)


def _apply_skip(engine: Engine, job: Job, step: Step, t: int) -> None:
    if step.status is JobStatus.STOPPING:
        step.gen += 1
        step.status, step.end = JobStatus.SKIPPED, t
        step.start = t if step.start is None else step.start
        job.status = JobStatus.RUNNING
        engine.refresh(job, step, t)


def _check_rolling_continue(engine: Engine, job: Job, step: Step, _: str, t: int) -> None:
    _require(step.status is JobStatus.WAITING_USER and step.batches > 0)
    job.status = JobStatus.RUNNING


def _apply_rolling_continue(engine: Engine, job: Job, step: Step, t: int) -> None:
    if step.status is JobStatus.WAITING_USER:
        engine.next_batch(job, step, t)


#: Every step operation the simulator serves (§7.9).
OPERATIONS: dict[StepOperation, Operation] = {
    StepOperation.RETRY_FAILED: Operation(_retry(retry_all=False), None),
    StepOperation.RETRY_ALL: Operation(_retry(retry_all=True), None),
    StepOperation.IGNORE_ERROR: Operation(_check_ignore_error, _apply_ignore_error),
    StepOperation.CONFIRM_CONTINUE: Operation(_check_confirm_continue, _apply_confirm_continue),
    StepOperation.CONFIRM_TERMINATE: Operation(_check_confirm_terminate, _apply_confirm_terminate),
    StepOperation.CONFIRM_RESTART: Operation(_check_confirm_restart, _apply_confirm_restart),
    StepOperation.NEXT_STEP: Operation(_check_next_step, _apply_next_step),
    StepOperation.SKIP: Operation(_check_skip, _apply_skip),
    StepOperation.ROLLING_CONTINUE: Operation(_check_rolling_continue, _apply_rolling_continue),
}


# --- engine --------------------------------------------------------------------------------------
INF = 1 << 62
NO_EXIT = -(1 << 31)
_SUCCESS_CODES = frozenset({int(HostStatus.SUCCESS), int(HostStatus.LAST_SUCCESS)})
_NEXT_STEP_WHEN = frozenset(
    {JobStatus.SUCCESS, JobStatus.SKIPPED, JobStatus.IGNORE_ERROR, JobStatus.ROLLING_WAITING}
)
_JOB_ENDS_WITH = frozenset({JobStatus.FAIL, JobStatus.ABNORMAL_STATE, JobStatus.ABANDONED})
#: The steps whose hosts GSE ends at the step's ``timeout`` (102, ``ScriptResultHandleTask``).
_TIMED = frozenset({StepType.SCRIPT, StepType.SQL})
_ROUND_END, _RETRY, _STOP, _OPERATION, _TERMINATE, _NEXT_BATCH = 0, 1, 2, 3, 4, 5
_ANY_GEN = -1  # an event that applies whatever happened to the step since (it re-checks)


class Defaults:
    """Durations and failure rate for hosts whose plan leaves them open (seconds)."""

    __slots__ = ("duration", "fail_rate", "start_delay")

    def __init__(
        self, duration: tuple[float, float], start_delay: tuple[float, float], fail_rate: float
    ) -> None:
        self.duration = duration
        self.start_delay = start_delay
        self.fail_rate = fail_rate


class Round:
    """One ``execute_count`` of a step: per host, when it starts and ends and how (ms arrays)."""

    __slots__ = ("changes", "end", "exit", "final", "last_change", "run", "tags")

    def __init__(self, size: int) -> None:
        self.run = array("q", [INF]) * size
        self.end = array("q", [INF]) * size
        self.final = array("i", [int(HostStatus.WAITING)]) * size
        self.exit = array("i", [NO_EXIT]) * size
        self.tags: dict[int, str] = {}
        self.changes = array("q")
        self.last_change = -1

    def copy(self) -> Round:
        """Return an independent copy (the next round starts from the last one)."""
        other = Round(0)
        other.run, other.end = array("q", self.run), array("q", self.end)
        other.final, other.exit = array("i", self.final), array("i", self.exit)
        other.tags = dict(self.tags)
        other.reindex()
        return other

    def status(self, index: int, now: int) -> int:
        """Return host ``index``'s status code at ``now``."""
        if now < self.run[index]:
            return int(HostStatus.WAITING)
        if now < self.end[index]:
            return int(HostStatus.RUNNING)
        return self.final[index]

    def reindex(self) -> None:
        """Recompute the sorted instants at which some host row changes."""
        times = sorted(t for t in (*self.run, *self.end) if t < INF)
        self.changes = array("q", times)
        self.last_change = times[-1] if times else -1


@attrs.define(kw_only=True, eq=False)
class Step:
    """One step instance: its plan, targets, status and rounds keyed by ``execute_count``."""

    owner: Job = attrs.field(repr=False)
    index: int
    id: int
    plan: StepPlan
    hosts: tuple[SimHost, ...]
    host_plans: tuple[HostPlan | None, ...]
    name: str
    create: int
    operator: str
    step_id: int
    status: JobStatus = JobStatus.BLANK
    execute_count: int = 0
    batch: int = 0
    gen: int = 0
    start: int | None = None
    end: int | None = None
    total: int | None = None
    rounds: dict[int, Round] = attrs.Factory(dict)
    #: The hosts a file step's files come from (none known: one generated source host).
    sources: tuple[SimHost, ...] = ()
    _starts: tuple[int, ...] | None = attrs.field(default=None, init=False, repr=False)

    @property
    def type(self) -> StepType:
        """Return the step's execute type."""
        return self.plan.type

    @property
    def batches(self) -> int:
        """Return how many rolling batches the step has (0 when it does not roll)."""
        plan = self.plan
        if not plan.is_rolling:
            return 0
        return plan.rolling_repeats or len(self.starts) - 1

    @property
    def starts(self) -> tuple[int, ...]:
        """Return the first host index of each batch, then the host count (rolling by target)."""
        if self._starts is None:
            self._starts = self.plan.batch_starts()
        return self._starts

    def batch_of(self, index: int) -> int:
        """Return the rolling batch (1-based) of host ``index``; 0 for a step that does not roll.

        Rolling by source file runs every host in every batch: a host is in the current one."""
        if not self.plan.is_rolling:
            return 0
        return self.batch if self.plan.rolling_repeats else bisect_right(self.starts, index)

    def batch_range(self, batch: int | None = None) -> range:
        """Return the host indices of ``batch`` (default: the current one; all if not rolling,
        staggered, or rolling by source file)."""
        plan = self.plan
        if not plan.is_rolling or plan.rolling_repeats or (batch is None and plan.stagger_ms):
            return range(len(self.hosts))
        batch = self.batch if batch is None else batch
        return range(self.starts[batch - 1], self.starts[batch])

    @property
    def current_round(self) -> Round | None:
        """Return the round of the current ``execute_count`` (``None`` before it is created)."""
        return self.rounds.get(self.execute_count)


@attrs.define(kw_only=True, eq=False)
class Job:
    """One job instance: identity, status, steps, pending events and the rendered-body cache."""

    id: int
    scope: Scope
    name: str
    operator: str
    create: int
    rng: random.Random = attrs.field(repr=False)
    launch_mode: int = 2
    task_type: int = 0
    plan_id: int = -1
    template_id: int = -1
    app_code: str = ""
    callback_url: str | None = None
    status: JobStatus = JobStatus.BLANK
    start: int | None = None
    end: int | None = None
    total: int | None = None
    current: int = -1
    steps: list[Step] = attrs.Factory(list)
    events: list[tuple[int, int, int, int, int, int]] = attrs.Factory(list)
    seq: int = 0
    version: int = 0
    live: list[Round] = attrs.Factory(list)
    cache: dict[object, tuple[object, bytes]] = attrs.field(factory=dict, repr=False)

    @property
    def current_step_instance_id(self) -> int:
        """Return the id of the step the engine is at (0 before the job starts)."""
        return self.steps[self.current].id if self.current >= 0 else 0

    def step(self, step_instance_id: int) -> Step | None:
        """Return the step with this id, or ``None``."""
        for step in self.steps:
            if step.id == step_instance_id:
                return step
        return None


_Handler = Callable[["Engine", Job, Step, int, int], None]


@attrs.define(kw_only=True, eq=False)
class Engine:
    """Advance jobs lazily and apply operations with bk-job's preconditions."""

    defaults: Defaults
    retry_lag_ms: int
    stop_delay_ms: int
    operation_lag: tuple[float, float] = (0.0, 0.0)
    seed: int = 0

    def lag_ms(self, job: Job) -> int:
        """Return how long the message queue takes to apply the job's next operation (ms)."""
        low, high = self.operation_lag
        if low == high:
            return round(1000 * low)
        return _sample_ms(random.Random(f"{self.seed}:{job.id}:{job.seq}"), self.operation_lag)

    # -- the timeline -------------------------------------------------------------------------

    def settle(self, job: Job, now: int) -> None:
        """Apply every event of ``job`` due by ``now``, in time order."""
        events = job.events
        while events and events[0][0] <= now:
            at, _, kind, index, gen, flag = heapq.heappop(events)
            step = job.steps[index]
            if gen == step.gen or gen == _ANY_GEN:
                _HANDLERS[kind](self, job, step, at, flag)
                job.version += 1

    def cache_key(self, job: Job, now: int) -> tuple[int, ...]:
        """Return a key that changes whenever anything ``job`` reports at ``now`` changes."""
        live = job.live
        for rnd in [r for r in live if r.last_change <= now]:
            live.remove(rnd)
            job.version += 1
        return (job.version, *(bisect_right(rnd.changes, now) for rnd in live))

    def _schedule(
        self, job: Job, at: int, kind: int, step: Step, flag: int = 0, *, any_gen: bool = False
    ) -> None:
        job.seq += 1
        gen = _ANY_GEN if any_gen else step.gen
        heapq.heappush(job.events, (at, job.seq, kind, step.index, gen, flag))

    # -- starting things ----------------------------------------------------------------------

    def start_job(self, job: Job, t: int) -> None:
        """Start a job at ``t`` (it must be at 1)."""
        job.status = JobStatus.RUNNING
        job.start = t
        self._start_step(job, job.steps[0], t)
        job.version += 1

    def _start_step(self, job: Job, step: Step, t: int) -> None:
        job.current = step.index
        if step.type is StepType.MANUAL_CONFIRM:
            step.status, step.start, step.end, step.total = JobStatus.WAITING_USER, t, None, None
            job.status = JobStatus.WAITING_USER
            return
        step.status = JobStatus.RUNNING
        step.start = t if step.start is None else step.start
        rnd = step.rounds[step.execute_count] = Round(len(step.hosts))
        step.batch = 1 if step.batches else 0
        if step.plan.stagger_ms is not None and step.batches:
            self._run_staggered(job, step, rnd, t)
            return
        self._run_hosts(job, step, rnd, step.batch_range(), t)

    def _run_staggered(self, job: Job, step: Step, rnd: Round, t: int) -> None:
        """Dispatch every batch, batch k a fixed plus random wait after batch k-1."""
        fixed, low, high = step.plan.stagger_ms or (0, 0, 0)
        finish = at = t
        for batch in range(1, step.batches + 1):
            if batch > 1:
                at += fixed + job.rng.randint(low, high)
            for index in step.batch_range(batch):
                finish = max(finish, self._schedule_host(job, step, rnd, index, at))
        step.batch = step.batches  # every batch is dispatched; none waits for a person
        rnd.reindex()
        if rnd not in job.live:
            job.live.append(rnd)
        step.gen += 1
        self._schedule(job, finish, _ROUND_END, step)

    def _run_hosts(self, job: Job, step: Step, rnd: Round, indices: Sequence[int], t: int) -> None:
        finish = t
        for index in indices:
            finish = max(finish, self._schedule_host(job, step, rnd, index, t))
        rnd.reindex()
        if rnd not in job.live:
            job.live.append(rnd)
        step.gen += 1
        self._schedule(job, finish, _ROUND_END, step)

    def _schedule_host(self, job: Job, step: Step, rnd: Round, index: int, t: int) -> int:
        plan, host_plan, rng = step.plan, step.host_plans[index], job.rng
        if host_plan is not None:
            outcome = int(host_plan.outcome_for(step.execute_count))
        else:
            rate = self.defaults.fail_rate if plan.fail_rate is None else plan.fail_rate
            outcome = int(plan.failure_status if rng.random() < rate else HostStatus.SUCCESS)
        own_delay = own_duration = None
        if host_plan is not None:
            own_delay, own_duration = host_plan.start_delay, host_plan.duration
        delay = _pick(own_delay, plan.start_delay, self.defaults.start_delay)
        duration = _pick(own_duration, plan.duration, self.defaults.duration)
        run = t + _sample_ms(rng, delay)
        took, limit = _sample_ms(rng, duration), plan.timeout
        if limit is not None and plan.type in _TIMED and took > round(1000 * limit):
            took, outcome = round(1000 * limit), int(HostStatus.SCRIPT_TIMEOUT)  # GSE ends it
        rnd.run[index], rnd.end[index] = run, run + took
        rnd.final[index] = outcome
        rnd.exit[index] = _exit_code(outcome, host_plan)
        if host_plan is not None and host_plan.tag:
            rnd.tags[index] = host_plan.tag
        return rnd.end[index]

    # -- event handlers -----------------------------------------------------------------------

    def _on_round_end(self, job: Job, step: Step, t: int, _: int) -> None:
        rnd = step.rounds[step.execute_count]
        ok = all(rnd.final[i] in _SUCCESS_CODES for i in step.batch_range())
        step.gen += 1
        if step.status is JobStatus.STOPPING:
            self.finish_step(step, JobStatus.SUCCESS if ok else JobStatus.FAIL, t)
            self.refresh(job, step, t)
            return
        forced, mode = step.plan.final_status, step.plan.rolling_mode
        more = forced is None and step.batch < step.batches
        if more and ok and mode is RollingMode.MANUAL:
            step.status = job.status = JobStatus.WAITING_USER
            return
        if more and (ok or mode is RollingMode.IGNORE_ERROR):
            step.status = JobStatus.ROLLING_WAITING  # §7.10: sent between batches
            self._schedule(job, t + self.lag_ms(job), _NEXT_BATCH, step)
            return
        ignored = step.plan.ignore_error or (step.batches > 0 and mode is RollingMode.IGNORE_ERROR)
        if forced is not None:
            status = forced
        elif ok:
            status = JobStatus.SUCCESS
        else:
            status = JobStatus.IGNORE_ERROR if ignored else JobStatus.FAIL
        self.finish_step(step, status, t)
        self.refresh(job, step, t)

    def _on_next_batch(self, job: Job, step: Step, t: int, _: int) -> None:
        if step.status is JobStatus.ROLLING_WAITING and job.status is JobStatus.RUNNING:
            self.next_batch(job, step, t)

    def next_batch(self, job: Job, step: Step, t: int) -> None:
        step.batch += 1
        step.status = JobStatus.RUNNING
        rnd = step.rounds[step.execute_count]
        self._run_hosts(job, step, rnd, step.batch_range(), t)

    def _on_retry(self, job: Job, step: Step, t: int, retry_all: int) -> None:
        if step.status not in RETRYABLE or step.type is StepType.MANUAL_CONFIRM:
            return  # GseStepEventHandler re-checks; the confirm handler ignores retries
        step.status, step.end, step.total = JobStatus.RUNNING, None, None
        job.status, job.end, job.total = JobStatus.RUNNING, None, None
        earlier = [count for count in step.rounds if count < step.execute_count]
        previous = step.rounds[max(earlier)] if earlier else Round(len(step.hosts))
        rnd = step.rounds[step.execute_count] = previous.copy()
        indices = step.batch_range()
        rerun = [i for i in indices if retry_all or rnd.final[i] not in _SUCCESS_CODES]
        for index in rerun:
            rnd.run[index] = rnd.end[index] = INF
            rnd.final[index], rnd.exit[index] = int(HostStatus.WAITING), NO_EXIT
        self._run_hosts(job, step, rnd, rerun, t)

    def _on_stop(self, job: Job, step: Step, t: int, _: int) -> None:
        if step.status not in (
            JobStatus.WAITING_USER,
            JobStatus.STOPPING,
            JobStatus.ROLLING_WAITING,
        ):
            return
        waited = step.status is not JobStatus.STOPPING
        step.gen += 1
        self.finish_step(step, JobStatus.STOP_SUCCESS, t, step.total if waited else None)
        self.refresh(job, step, t)

    # -- step and job transitions -------------------------------------------------------------

    @staticmethod
    def finish_step(step: Step, status: JobStatus, t: int, total: int | None = None) -> None:
        """End ``step`` at ``t`` with ``status``; a ``total`` bk-job already knows is kept."""
        step.status, step.end = status, t
        step.total = _cost(step.start, t, total)

    def refresh(self, job: Job, step: Step, t: int) -> None:
        """Move the job on after its current step changed (``JobListener.refreshJob``)."""
        if job.status is JobStatus.STOPPING:
            if step.status is not JobStatus.RUNNING:
                self.finish_job(job, JobStatus.STOP_SUCCESS, t)
        elif job.status is JobStatus.RUNNING:
            if step.status in _NEXT_STEP_WHEN:
                following = step.index + 1
                if following < len(job.steps):
                    self._start_step(job, job.steps[following], t)
                else:
                    self.finish_job(job, JobStatus.SUCCESS, t)
            elif step.status in _JOB_ENDS_WITH:
                self.finish_job(job, step.status, t)

    @staticmethod
    def finish_job(job: Job, status: JobStatus, t: int) -> None:
        job.status, job.end = status, t
        job.total = _cost(job.start, t, job.total)

    # -- operations ---------------------------------------------------------------------------

    def operate_step(
        self, job: Job, step: Step, operation: StepOperation, operator: str, t: int
    ) -> None:
        """Answer ``operate_step_instance`` at ``t``, or raise ``OpError`` (bk-job's checks).

        Only the preconditions, the job's status and ``execute_count`` change now; the step
        changes when the queued operation is applied (``operation_lag`` later).
        """
        self.settle(job, t)
        check, apply = OPERATIONS[operation]
        check(self, job, step, operator, t)
        if apply is not None:
            self._schedule(job, t + self.lag_ms(job), _OPERATION, step, operation, any_gen=True)
        job.version += 1

    def terminate(self, job: Job, t: int) -> None:
        """Answer ``operate_job_instance`` code 1 at ``t`` (jobs at 2 or 7); it stops later."""
        self.settle(job, t)
        if job.status not in (JobStatus.RUNNING, JobStatus.WAITING_USER):
            raise OpError(codes.UNSUPPORTED_OPERATION)
        step = job.steps[job.current]
        self._schedule(job, t + self.lag_ms(job), _TERMINATE, step, any_gen=True)
        job.version += 1

    def _on_terminate(self, job: Job, _: Step, t: int, __: int) -> None:
        """Stop the job (``JobListener.stopJob``): job 10, the running step 10, hosts killed."""
        if job.status not in (JobStatus.RUNNING, JobStatus.WAITING_USER):
            return
        job.status = JobStatus.STOPPING
        step, done = job.steps[job.current], t + self.stop_delay_ms
        if step.status is JobStatus.RUNNING:
            step.status = JobStatus.STOPPING
            _kill_hosts(step.rounds[step.execute_count], step.batch_range(), done)
            self._schedule(job, done, _STOP, step)
        elif step.status in (JobStatus.WAITING_USER, JobStatus.ROLLING_WAITING):
            step.gen += 1  # a batch that was about to start never does
            self._schedule(job, done, _STOP, step)

    def _on_operation(self, job: Job, step: Step, t: int, code: int) -> None:
        apply = OPERATIONS[StepOperation(code)].apply
        assert apply is not None  # (only operations with an apply are scheduled)
        apply(self, job, step, t)

    def start(self, job: Job, t: int) -> None:
        """Apply ``operate_job_instance`` code 2 at ``t`` (allowed on jobs at 1 only)."""
        self.settle(job, t)
        if job.status is not JobStatus.BLANK:
            raise OpError(codes.REPEAT_START, job.id)
        self.start_job(job, t)

    def retry(self, job: Job, step: Step, t: int, *, retry_all: bool) -> None:
        """Begin a new round of ``step`` (its status is retryable): it runs ``retry_lag`` later."""
        job.status = JobStatus.RUNNING
        step.execute_count += 1
        self._schedule(job, t + self.retry_lag_ms, _RETRY, step, int(retry_all))


_HANDLERS: dict[int, _Handler] = {
    _ROUND_END: Engine._on_round_end,
    _RETRY: Engine._on_retry,
    _STOP: Engine._on_stop,
    _OPERATION: Engine._on_operation,
    _TERMINATE: Engine._on_terminate,
    _NEXT_BATCH: Engine._on_next_batch,
}


def _kill_hosts(rnd: Round, indices: Sequence[int], done: int) -> None:
    """Make the hosts still waiting or running at ``done`` end then, force-terminated (403)."""
    for index in indices:
        if rnd.end[index] > done:
            rnd.run[index] = min(rnd.run[index], done)
            rnd.end[index] = done
            rnd.final[index], rnd.exit[index] = int(HostStatus.GSE_TASK_TERMINATE_SUCCESS), NO_EXIT
    rnd.reindex()


def _cost(start: int | None, end: int, known: int | None) -> int | None:
    """Return a duration like bk-job's ``TaskCostCalculator``: a known one wins."""
    if known is not None:
        return known
    return None if start is None else end - start


def _pick(*spans: tuple[float, float] | None) -> tuple[float, float]:
    for span in spans:
        if span:
            return span
    return (0.0, 0.0)


def _sample_ms(rng: random.Random, span: tuple[float, float]) -> int:
    low, high = span
    return round(1000 * (low if low == high else rng.uniform(low, high)))


def _exit_code(outcome: int, host_plan: HostPlan | None) -> int:
    if host_plan is not None and host_plan.exit_code is not None:
        return host_plan.exit_code
    if outcome in _SUCCESS_CODES:
        return 0
    return 1 if outcome == HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE else NO_EXIT
