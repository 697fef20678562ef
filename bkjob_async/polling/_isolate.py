"""An exception nothing expects in one job's processing ends that job's watches, never the poller.

The driver's ``apply`` and the workers' reads catch what is not a ``BkJobError`` (a bug, an
answer no check foresaw) and hand it here: the job's watches end with ``WatchFailed``, whose
error is a ``PollingError`` naming the job and the exception and keeping it as ``__cause__``
(unless its message had to mask a secret: then neither the cause nor its traceback is kept).
The traceback is logged at ERROR. The poller and every other job go on. A ``StoreError`` is
raised again: a store that fails, fails the poller, as it would any job.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .. import errors
from .events import WatchFailed

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._delivery import Delivery
    from ._jobs import Watched

__all__ = ["fail_alone"]

logger = logging.getLogger("bkjob_async.polling")


def fail_alone(
    watched: Watched, exc: Exception, redact: Callable[[str], str], at: Any, delivery: Delivery
) -> None:
    """End ``watched``'s watches with ``WatchFailed`` for ``exc``; log it (module docstring)."""
    if isinstance(exc, errors.StoreError):
        raise exc
    job = watched.job
    job_id = job.job_instance_id
    text = f"{type(exc).__name__}: {exc}"
    masked = redact(text)
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
        delivery.give_up(watched, WatchFailed(job_id, at, error, occurrence=job.state.seq))
