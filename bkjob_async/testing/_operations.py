"""bk-job's step operations in the simulator, as a table: what each checks now, what it changes later.

Rule: no I/O and no clock (the time comes in as epoch milliseconds). ``operate_step_instance``
answers at once after checking the step's preconditions (``check``, which may set the job's
status as bk-job's response already shows it); the step itself changes when bk-job's message
queue applies the operation, ``operation_lag`` later (``apply``, ``None`` for a retry, which
the engine's timeline runs ``retry_lag`` later), and only if the step still allows it then, as
bk-job's step event handlers re-check the status (``TaskExecuteServiceImpl``,
``GseStepEventHandler``, ``ConfirmStepEventHandler``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ..models.enums import JobStatus, StepOperation, StepType

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._engine import Engine, Job, Step

__all__ = [
    "NOT_A_CONFIRMER",
    "OPERATIONS",
    "REPEAT_START",
    "RETRYABLE",
    "TRIGGER_ROLE",
    "UNSUPPORTED",
    "OpError",
    "Operation",
]

UNSUPPORTED = 1241003
NOT_A_CONFIRMER = 1244016
REPEAT_START = 1241015

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
        raise OpError(UNSUPPORTED)


def _revive(job: Job) -> None:
    """Set a job back to running, as the operation's response already shows it."""
    job.status, job.end, job.total = JobStatus.RUNNING, None, None


def _check_confirmer(job: Job, step: Step, operator: str) -> None:
    """Check like ``checkConfirmUser``: with no confirm role, any user may confirm (§7.14)."""
    if operator in step.plan.confirm_users or not step.plan.confirm_roles:
        return
    if TRIGGER_ROLE in step.plan.confirm_roles and operator == job.operator:
        return
    raise OpError(NOT_A_CONFIRMER)  # the simulator knows no CMDB role members


def _confirming(job: Job, step: Step, operator: str) -> None:
    _require(step.type is StepType.MANUAL_CONFIRM and step.status is JobStatus.WAITING_USER)
    _check_confirmer(job, step, operator)


# --- retries: a new round, ``retry_lag`` later (the engine's timeline) -----------------------


def _retry(retry_all: bool) -> Callable[[Engine, Job, Step, str, int], None]:
    def check(engine: Engine, job: Job, step: Step, _: str, t: int) -> None:
        _require(step.status in RETRYABLE)
        engine.retry(job, step, t, retry_all=retry_all)

    return check


# --- the others: checked now, applied ``operation_lag`` later if the step still allows it ----


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
