"""What a ``Poller`` has done so far, as one frozen snapshot (``Poller.statistics()``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from .stores import StoreStatistics

if TYPE_CHECKING:
    from ._driver import Driver

__all__ = ["PollerStatistics", "RateMeter", "collect"]


@attrs.frozen
class PollerStatistics:
    """A snapshot of what a ``Poller`` has done so far."""

    #: Jobs being polled now (each once, however many watches hold it).
    instances_watched: int
    #: Watches open now: made and not yet ended (a watch ends when its last job does, or on
    #: ``aclose()``, leaving ``async with``, or being dropped).
    watches: int
    #: Requests sent, retries and result-group reads included.
    requests: int
    #: Polls whose answer had not changed (skipped by fingerprint, never decoded).
    unchanged_polls: int
    #: Polls retried after a transient failure.
    retries: int
    #: Failed polls by error class name.
    errors: dict[str, int]
    #: Events the watches handed out to their consumers (what ``async for`` received).
    events_emitted: int
    #: Requests per second, measured over the last second or so.
    current_rate: float
    #: The rate the governor allows now (``None``: no limit in force).
    rate_limit: float | None
    #: Requests in flight now.
    in_flight: int
    #: bk-job itself cannot be reached (an outage: the watches heard ``PollingStalled``).
    stalled: bool = False
    #: Events the polls observed, before each watch's filter (``events=``, a step, ended
    #: jobs) and coalescing: ``as_completed`` of 1,000 jobs observes every host's changes
    #: and hands out 1,000.
    events_observed: int = 0
    #: Polls the driver refused because they came sooner than the policy's smallest gap
    #: after the job's last poll (``min_gap``): a scheduling bug, never bk-job's doing. Each
    #: refused poll is put off until the gap has passed; the first is logged at WARNING.
    refused_polls: int = 0
    #: Polls a callback brought forward (``Poller.hint``).
    hinted_polls: int = 0
    #: Whether bk-job's job list stands for the polls of end-only waits (``False`` on ESB v2,
    #: which has no job list), the jobs it follows now, and its requests so far (pages).
    census: bool = False
    census_jobs: int = 0
    census_requests: int = 0
    #: The state store's writes and health (``healthy is False``: writes fail, the poller
    #: goes on from memory and the store retries; see ``StoreStatistics``).
    store: StoreStatistics | None = None
    #: Jobs whose reads fail alone now (bk-job answers others; ``JobPollFailing``).
    failing_jobs: int = 0
    #: Failed polls so far, by whose they were: one job's (a malformed answer, a read that
    #: timed out while others were answered, an error code), or bk-job's (no connection, a
    #: 5xx, a timeout while nothing answered). Throttles are neither (``errors`` has them).
    job_failures: int = 0
    server_failures: int = 0


def collect(driver: Driver, **poller: Any) -> PollerStatistics:
    """Return the counters of ``driver``, with the ``poller``'s own (watches, store)."""
    census = driver.census
    return PollerStatistics(
        instances_watched=len(driver.registry),
        requests=driver.reader.requests,
        unchanged_polls=driver.reader.unchanged,
        retries=driver.retries,
        errors=dict(driver.errors),
        events_observed=driver.delivery.events,
        rate_limit=driver.governor.rate,
        in_flight=driver.workers.in_flight,
        stalled=driver.health.server.down,
        failing_jobs=driver.registry.failing,
        job_failures=driver.job_failures,
        server_failures=driver.server_failures,
        refused_polls=driver.due.refused,
        hinted_polls=driver.hints,
        census=census is not None,
        census_jobs=0 if census is None else sum(map(len, census.jobs.values())),
        census_requests=0 if census is None else census.pages,
        **poller,
    )


class RateMeter:
    """Requests per second, measured over the last second or so."""

    __slots__ = ("_mark", "_rate")

    def __init__(self) -> None:
        self._mark = (0.0, 0)
        self._rate = 0.0

    def start(self, now: float) -> None:
        self._mark = (now, 0)

    def read(self, now: float, requests: int) -> float:
        """Return the rate since the last reading (kept if it was less than a second ago)."""
        since, count = self._mark
        if now - since >= 1.0:
            self._rate = (requests - count) / (now - since)
            self._mark = (now, requests)
        return self._rate
