"""An exception nothing expects in one job's processing ends that job's watches, never the poller.

The driver's ``apply`` (wrapped by ``isolated``) and the workers' reads hand what is not a
``BkJobError`` (a bug, an answer no check foresaw) to ``fail_alone``: the job's watches end
with ``WatchFailed``, whose error is a ``PollingError`` naming the job and the exception and
keeping it as ``__cause__`` (unless its message had to mask a secret: then neither the cause
nor its traceback is kept). The traceback is logged at ERROR. The poller and every other job
go on. A ``StoreError`` is raised again: a store that fails, fails the poller, as it would any
job.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, TypeVar, cast

from .. import errors
from .events import WatchFailed

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._decide import Outcome
    from ._driver import Driver
    from ._jobs import Watched

__all__ = ["fail_alone", "isolated"]

F = TypeVar("F", bound="Callable[..., None]")
logger = logging.getLogger("bkjob_async.polling")


def isolated(apply: F) -> F:
    """Wrap ``Driver.apply``: an exception it does not expect fails that job (``fail_alone``)."""

    @functools.wraps(apply)
    def guarded(
        driver: Driver, watched: Watched, outcome: Outcome, now: float | None = None
    ) -> None:
        try:
            apply(driver, watched, outcome, now)
        except Exception as exc:
            fail_alone(driver, watched, exc)

    return cast("F", guarded)


def fail_alone(driver: Driver, watched: Watched, exc: Exception) -> None:
    """End ``watched``'s watches with ``WatchFailed`` for ``exc``; log it (module docstring)."""
    if isinstance(exc, errors.StoreError):
        raise exc
    driver.errors[type(exc).__name__] += 1
    job = watched.job
    job_id = job.job_instance_id
    text = f"{type(exc).__name__}: {exc}"
    masked = driver.reader.redact(text)
    error = errors.PollingError(
        f"job {job_id}: the poller could not process it ({masked}); its watches end here"
    )
    error.__cause__ = exc if masked == text else None
    logger.error(
        "job %s: unexpected %s while processing it; its watches fail",
        job_id,
        type(exc).__name__,
        exc_info=exc if masked == text else None,
    )
    if watched.active and watched.subscribers:
        failed = WatchFailed(job_id, driver.rules.wall(), error, occurrence=job.state.seq)
        driver.delivery.give_up(watched, failed)
