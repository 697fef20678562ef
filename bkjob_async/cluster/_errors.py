"""The cluster's errors, under the package's ``BkJobError`` root; no message carries a password.

::

    BkJobError
    └── ClusterError                 anything the cluster layer raises on purpose
        ├── ClusterUnavailableError  Redis unreachable or too slow (also a builtin ConnectionError)
        ├── ClusterConfigError       this process disagrees with the cluster (partition count)
        ├── LeaseLostError           a fenced write refused: the lease is past its local
        │                            deadline, gone, held by another worker, or outranked
        ├── JobGoneError             a job's fenced write refused: the job left its watch,
        │                            or was written since
        └── StreamFormatError        a stream entry is not an event of this format: not read

Bad arguments raise ``TypeError`` / ``ValueError`` before any Redis command, as in the core.
"""

from __future__ import annotations

from ..errors import BkJobError

__all__ = [
    "ClusterConfigError",
    "ClusterError",
    "ClusterUnavailableError",
    "JobGoneError",
    "LeaseLostError",
    "StreamFormatError",
]


class ClusterError(BkJobError):
    """Root of the errors of ``bkjob_async.cluster``."""


class ClusterUnavailableError(ClusterError, ConnectionError):
    """Redis could not be reached or did not answer in time (the command may have been
    applied all the same); retrying later may succeed."""

    transient = True


class ClusterConfigError(ClusterError, ValueError):
    """This process's settings contradict the cluster's (e.g. another partition count)."""


class LeaseLostError(ClusterError):
    """A fenced write was refused, nothing of it applied: ``reason`` is ``"expired"`` (past
    the holder's own deadline: not sent), ``"not-held"`` (Redis holds no lease, or another
    worker's) or ``"outranked"`` (a newer fencing token was issued for the partition)."""

    def __init__(self, message: str, *, partition: int, token: int, reason: str) -> None:
        super().__init__(message)
        self.partition = partition
        self.token = token
        self.reason = reason


class JobGoneError(ClusterError):
    """A job's fenced write was refused, so nothing of it was applied: ``reason`` is ``"gone"``
    (the job is no longer in the watch: cancelled, or its end was written already) or
    ``"stale"`` (another write of the job landed since the state this one replaces; ``stored``
    is the version Redis holds)."""

    def __init__(
        self, message: str, *, partition: int, reason: str = "gone", stored: str = ""
    ) -> None:
        super().__init__(message)
        self.partition = partition
        self.reason = reason
        self.stored = stored


class StreamFormatError(ClusterError):
    """An entry of a watch's stream cannot be read (``_entries``): it stays pending until
    skipped (``EventStream.skip``). ``watch`` and ``stream_id`` name it."""

    def __init__(self, message: str, *, watch: str, stream_id: str) -> None:
        super().__init__(message)
        self.watch = watch
        self.stream_id = stream_id
