"""The epoch of a cluster's data: a nonce Redis keeps, so a process notices that Redis lost the data.

Every script that starts from the cluster's keys (``HELLO``, a lease round) reads the nonce, or
sets a fresh one when it is missing. A nonce that differs from the one this process saw before
means Redis was wiped (a restart without persistence, ``FLUSHALL``): said at ERROR and counted.
The partition count is checked at the same time: it is fixed for the life of the data.
"""

from __future__ import annotations

import logging
import secrets

from ._errors import ClusterConfigError

__all__ = ["Epoch"]

log = logging.getLogger("bkjob_async.cluster")


class Epoch:
    """What this process knows of its cluster's data in Redis: its nonce and its wipes."""

    __slots__ = ("name", "partitions", "resets", "seen", "url")

    def __init__(self, name: str, url: str, partitions: int) -> None:
        self.name, self.url, self.partitions = name, url, partitions
        #: The nonce of the cluster's data in Redis, once seen.
        self.seen: str | None = None
        #: How many times the cluster's data was found wiped after this process had seen it.
        self.resets = 0

    @staticmethod
    def nonce() -> str:
        """Return a fresh epoch candidate."""
        return secrets.token_hex(8)

    def observe(self, epoch: str, created: bool) -> None:
        """Record the epoch Redis reported; say loudly if the cluster's data was wiped."""
        if self.seen is not None and epoch != self.seen:
            self.resets += 1
            log.error(
                "Redis at %s lost the data of cluster %r (epoch %s -> %s%s): it restarted "
                "without persistence or was flushed. Leases, fencing counters, pending events "
                "and the watch set written before are gone; carrying on with what this "
                "process holds. Enable persistence (appendonly yes) to avoid this.",
                self.url,
                self.name,
                self.seen,
                epoch,
                ", recreated now" if created else "",
            )
        self.seen = epoch

    def check_config(self, partitions: object) -> None:
        """Raise ``ClusterConfigError`` unless Redis agrees on the partition count."""
        if str(partitions) != str(self.partitions):
            raise ClusterConfigError(
                f"cluster {self.name!r} at {self.url} has {partitions} partitions, this "
                f"process was configured with {self.partitions}"
            )
