"""Prometheus metrics for a service that embeds the poller: a tool, imported by nothing but the CLI.

Rule: this is the only module that imports ``prometheus_client`` (the ``prometheus`` extra:
``pip install 'bkjob-async[prometheus]'``); ``import bkjob_async`` never imports it. Figures
are read from ``Poller.statistics()`` when Prometheus scrapes (nothing is added to a poll),
except two that need every request: given to a client when it is made
(``BkJobClient(..., instruments=[metrics])``), the metrics wrap its transport to count requests
by outcome and time them.

Metrics (``namespace`` prefix, ``bkjob`` by default):

- ``bkjob_requests_total{api, outcome}``: requests sent; outcome ``2xx``, ``4xx``, ``5xx`` or
  the error's type (``ConnectError``, ``TimeoutError``, ...). Needs ``instruments=``.
- ``bkjob_request_duration_seconds{api}``: a histogram of request latency, polls included
  (``api="get_job_instance_status"``). Needs ``instruments=``.
- ``bkjob_poller_polls_total``, ``bkjob_poller_unchanged_polls_total``,
  ``bkjob_poller_retries_total``, ``bkjob_poller_errors_total{type}``: the poller's counters.
- ``bkjob_poller_events_total``: events delivered to watches;
  ``bkjob_events_total{type}``: events by type, for the events passed to ``observe``.
- ``bkjob_poller_jobs_watched``, ``bkjob_poller_watches``, ``bkjob_poller_in_flight``:
  what it is doing now; ``bkjob_poller_request_rate``: requests per second lately;
  ``bkjob_poller_rate_limit``: the rate it holds itself to after 429s (absent when none);
  ``bkjob_poller_stalled``: 1 while bk-job cannot be reached (an outage), else 0;
  ``bkjob_poller_failing_jobs``: jobs whose reads fail alone now, bk-job answering the others;
  ``bkjob_poller_failures_total{blame}``: failed polls, ``blame="job"`` (one job's: a
  malformed answer, a read timing out while others are answered) or ``"server"`` (bk-job's:
  no connection, a 5xx, nothing answering).

Cluster mode (``ClusterMetrics``; ``cluster`` prefix): a worker's own figures, and the
cluster's as ``ClusterReader.status()`` last read them (``refresh``):

- ``bkjob_cluster_partitions_held``, ``bkjob_cluster_jobs_polled``: what the worker holds now;
  ``bkjob_cluster_takeovers_total`` (partitions taken from a worker no longer live),
  ``bkjob_cluster_handovers_total`` (given by a live one to even the shares out),
  ``bkjob_cluster_commits_total``, ``bkjob_cluster_refused_writes_total`` (fenced: the lease
  was gone), ``bkjob_cluster_lease_rounds_failed_total``.
- ``bkjob_cluster_redis_up``: 1 while Redis answers (the last lease round or status read).
- ``bkjob_cluster_workers_live``, ``bkjob_cluster_partitions``,
  ``bkjob_cluster_partitions_unheld``, ``bkjob_cluster_jobs_unheld`` (nobody polls them);
  ``bkjob_cluster_watch_jobs{watch}``, ``bkjob_cluster_stream_length{watch}`` and
  ``bkjob_cluster_stream_maxlen{watch}``, ``bkjob_cluster_dead_letters{watch}``;
  ``bkjob_cluster_group_lag{watch, group}`` and ``bkjob_cluster_group_pending{watch, group}``;
  ``bkjob_cluster_status_age_seconds``: since the status was read.
- ``bkjob_cluster_consumer_outages_total``, ``bkjob_cluster_consumer_repeats_dropped_total``:
  of the ``EventStream``s tracked (``track_stream``).

Example::

    registry = prometheus_client.CollectorRegistry()
    metrics = PollerMetrics(registry=registry)
    async with BkJobClient(url, ..., instruments=[metrics]) as client, Poller(client) as poller:
        metrics.track(poller)
        async with poller.watch_jobs(scope, job_ids) as watch:
            async for event in watch:
                metrics.observe(event)
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from .errors import BkJobError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

    from ._protocol import Request, Response
    from ._transport import Transport
    from .client import BkJobClient
    from .cluster import ClusterReader, ClusterStatus, EventStream, Worker
    from .polling import Poller
    from .polling.events import Event

__all__ = ["LATENCY_BUCKETS", "ClusterMetrics", "PollerMetrics"]

#: Latency buckets in seconds: from a fast local answer to the gateway's 60 s limit.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_EVENT_TYPES = {
    "HostTransition": "host_transition",
    "ContainerTransition": "container_transition",
    "StepTransition": "step_transition",
    "JobTransition": "job_transition",
    "JobFinished": "job_finished",
    "WatchFailed": "watch_failed",
    "WatchTimedOut": "watch_timed_out",
    "PollingStalled": "polling_stalled",
    "PollingResumed": "polling_resumed",
    "JobPollFailing": "job_poll_failing",
    "JobPollRecovered": "job_poll_recovered",
}


class _MeteredTransport:
    """A transport that counts and times every request it passes on."""

    def __init__(self, inner: Transport, requests: Counter, latency: Histogram) -> None:
        self.inner = inner
        self._requests = requests
        self._latency = latency

    async def send(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = await self.inner.send(request)
        except BkJobError as exc:
            self._requests.labels(request.api, type(exc).__name__).inc()
            raise
        finally:
            self._latency.labels(request.api).observe(time.perf_counter() - started)
        self._requests.labels(request.api, f"{response.status // 100}xx").inc()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class PollerMetrics(Collector):
    """The figures of the pollers it tracks, and of the clients it instruments, for Prometheus.

    :param registry: where to register (the default registry of ``prometheus_client`` unless
        given; ``None`` registers nowhere, for ``registry.register(metrics)`` later).
    :param namespace: the prefix of every metric name.
    """

    def __init__(
        self, *, registry: CollectorRegistry | None = REGISTRY, namespace: str = "bkjob"
    ) -> None:
        self.namespace = namespace
        self._pollers: list[Poller] = []
        # Made on a private registry: they are collected through this collector.
        self._own = CollectorRegistry(auto_describe=True)
        counter = functools.partial(Counter, namespace=namespace, registry=self._own)
        self._requests = counter(
            "requests",
            "Requests sent to bk-job, by API and outcome (2xx, 4xx, 5xx or the error's type).",
            ["api", "outcome"],
        )
        self._latency = Histogram(
            "request_duration_seconds",
            "Seconds from sending a request to bk-job to its answer (or failure), by API.",
            ["api"],
            namespace=namespace,
            buckets=LATENCY_BUCKETS,
            registry=self._own,
        )
        self._events = counter("events", "Watch events passed to observe(), by type.", ["type"])
        if registry is not None:
            registry.register(self)

    def wrap(self, transport: Transport) -> Transport:
        """Return ``transport`` counting and timing every request it sends: what a client made
        with ``instruments=[metrics]`` calls, once, when it is made."""
        return _MeteredTransport(transport, self._requests, self._latency)

    def instrument(self, client: BkJobClient) -> None:
        """Count and time every request ``client`` sends (before making its ``Poller``).

        Deprecated: pass ``instruments=[metrics]`` when making the client instead; this swaps
        the transport of a client already made, which a ``Poller`` made before never sees.
        """
        warnings.warn(
            "PollerMetrics.instrument(client) is deprecated: make the client with "
            "BkJobClient(..., instruments=[metrics])",
            DeprecationWarning,
            stacklevel=2,
        )
        if not isinstance(client.transport, _MeteredTransport):
            client.transport = self.wrap(client.transport)

    def track(self, poller: Poller) -> None:
        """Report ``poller``'s statistics at every scrape (summed over the pollers tracked)."""
        if poller not in self._pollers:
            self._pollers.append(poller)

    def untrack(self, poller: Poller) -> None:
        """Stop reporting ``poller``."""
        if poller in self._pollers:
            self._pollers.remove(poller)

    def observe(self, event: Event) -> None:
        """Count one watch event by its type."""
        name = type(event).__name__
        self._events.labels(_EVENT_TYPES.get(name, name)).inc()

    def describe(self) -> list[Metric]:
        """Return nothing: the metrics' names depend on what is tracked (collected at scrape)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Return every metric now (called by ``prometheus_client`` at each scrape)."""
        yield from self._own.collect()
        stats = [p.statistics() for p in self._pollers]
        name = f"{self.namespace}_poller"

        def counter(suffix: str, text: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"{name}_{suffix}", text, value=value)

        def gauge(suffix: str, text: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{name}_{suffix}", text, value=value)

        yield counter("polls", "Requests the poller made.", sum(s.requests for s in stats))
        yield counter(
            "unchanged_polls",
            "Polls whose answer had not changed (skipped without decoding).",
            sum(s.unchanged_polls for s in stats),
        )
        yield counter("retries", "Polls retried after an error.", sum(s.retries for s in stats))
        errors = CounterMetricFamily(
            f"{name}_errors", "Failed polls, by error type.", labels=["type"]
        )
        totals: dict[str, int] = {}
        for s in stats:
            for kind, count in s.errors.items():
                totals[kind] = totals.get(kind, 0) + count
        for kind, count in sorted(totals.items()):
            errors.add_metric([kind], count)
        yield errors
        yield counter(
            "events", "Events delivered to watches.", sum(s.events_emitted for s in stats)
        )
        yield gauge(
            "jobs_watched", "Jobs being polled now.", sum(s.instances_watched for s in stats)
        )
        yield gauge("watches", "Open watches.", sum(s.watches for s in stats))
        yield gauge("in_flight", "Requests in flight now.", sum(s.in_flight for s in stats))
        yield gauge(
            "request_rate", "Requests per second lately.", sum(s.current_rate for s in stats)
        )
        limits = [s.rate_limit for s in stats if s.rate_limit is not None]
        if limits:
            yield gauge("rate_limit", "Requests per second allowed after 429 answers.", sum(limits))
        yield gauge(
            "stalled",
            "1 while bk-job cannot be reached (an outage: polls probe it), else 0.",
            float(any(s.stalled for s in stats)),
        )
        yield gauge(
            "failing_jobs",
            "Jobs whose reads fail alone now (bk-job answers others; retried per job).",
            sum(s.failing_jobs for s in stats),
        )
        failures = CounterMetricFamily(
            f"{name}_failures",
            "Failed polls, by whose failure they were: one job's, or bk-job's.",
            labels=["blame"],
        )
        failures.add_metric(["job"], sum(s.job_failures for s in stats))
        failures.add_metric(["server"], sum(s.server_failures for s in stats))
        yield failures


log = logging.getLogger("bkjob_async.metrics")


class ClusterMetrics(Collector):
    """The figures of cluster mode for Prometheus: workers and streams tracked here, and the
    cluster's status as last read (``refresh``, or ``run`` every few seconds).

    :param registry: as ``PollerMetrics``'.
    :param namespace: the prefix of every metric name (``bkjob``: ``bkjob_cluster_...``).
    """

    def __init__(
        self, *, registry: CollectorRegistry | None = REGISTRY, namespace: str = "bkjob"
    ) -> None:
        self.namespace = namespace
        self._workers: list[Worker] = []
        self._streams: list[EventStream] = []
        self._status: ClusterStatus | None = None
        self._read_at: float | None = None
        self._reader_up: bool | None = None
        if registry is not None:
            registry.register(self)

    def track_worker(self, worker: Worker) -> None:
        """Report ``worker``'s statistics at every scrape."""
        if worker not in self._workers:
            self._workers.append(worker)

    def track_stream(self, stream: EventStream) -> None:
        """Report ``stream``'s outages and repeats dropped at every scrape."""
        if stream not in self._streams:
            self._streams.append(stream)

    async def refresh(self, reader: ClusterReader) -> None:
        """Read the cluster's status now (its failure is reported as ``redis_up`` 0)."""
        from .cluster import ClusterError

        try:
            self._status = await reader.status()
        except ClusterError as exc:
            if self._reader_up is not False:
                log.warning("cluster metrics: cannot read the cluster's status: %s", exc)
            self._reader_up = False
        else:
            self._reader_up = True
            self._read_at = time.monotonic()

    async def run(self, reader: ClusterReader, every: float = 10.0) -> None:
        """``refresh`` every ``every`` seconds until cancelled."""
        import anyio

        while True:
            await self.refresh(reader)
            await anyio.sleep(every)

    def describe(self) -> list[Metric]:
        """Return nothing: the metrics' names depend on what is tracked (collected at scrape)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Return every metric now (called by ``prometheus_client`` at each scrape)."""
        name = f"{self.namespace}_cluster"

        def family(suffix: str, text: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{name}_{suffix}", text, labels=labels)

        def one(kind: type, suffix: str, text: str, value: float) -> Metric:
            made: Metric = kind(f"{name}_{suffix}", text, value=value)
            return made

        stats = [w.statistics() for w in self._workers]
        if stats:
            yield one(GaugeMetricFamily, "partitions_held", "Partitions whose lease this "
                      "worker holds.", sum(s.partitions for s in stats))  # fmt: skip
            yield one(GaugeMetricFamily, "jobs_polled", "Jobs this worker polls.",
                      sum(s.jobs for s in stats))  # fmt: skip
            for suffix, text, field in (
                ("takeovers", "Partitions taken from a worker no longer live.", "takeovers"),
                ("handovers", "Partitions given by a live worker evening shares.", "handovers"),
                ("commits", "Fenced writes of changed jobs.", "commits"),
                ("refused_writes", "Writes the fence refused (the lease was gone).", "refused"),
                ("lease_rounds_failed", "Lease rounds Redis did not answer or refused.",
                 "lease_rounds_failed"),
            ):  # fmt: skip
                yield one(CounterMetricFamily, suffix, text, sum(getattr(s, field) for s in stats))
        ups = [s.redis_available for s in stats]
        if self._reader_up is not None:
            ups.append(self._reader_up)
        if ups:
            yield one(GaugeMetricFamily, "redis_up", "1 while Redis answers, else 0.",
                      float(all(ups)))  # fmt: skip
        if self._streams:
            yield one(CounterMetricFamily, "consumer_outages", "Redis outages the event "
                      "streams waited through.", sum(s.outages for s in self._streams))  # fmt: skip
            yield one(CounterMetricFamily, "consumer_repeats_dropped", "Events given again "
                      "after the stream acknowledged them, not handed out.",
                      sum(s.dropped_repeats for s in self._streams))  # fmt: skip
        status = self._status
        if status is None or self._read_at is None:
            return
        yield one(GaugeMetricFamily, "status_age_seconds", "Seconds since the cluster's status "
                  "was read.", time.monotonic() - self._read_at)  # fmt: skip
        yield one(GaugeMetricFamily, "workers_live", "Workers whose heartbeat has not expired.",
                  sum(m.alive for m in status.members))  # fmt: skip
        yield one(GaugeMetricFamily, "partitions", "The cluster's partitions.", status.partitions)
        yield one(GaugeMetricFamily, "partitions_unheld", "Partitions no worker holds.",
                  len(status.unheld))  # fmt: skip
        yield one(GaugeMetricFamily, "jobs_unheld", "Jobs in partitions no worker holds "
                  "(nobody polls them).", status.unheld_jobs)  # fmt: skip
        per_watch = {
            "watch_jobs": ("Jobs in the watch.", "jobs"),
            "stream_length": ("Events the watch's stream holds.", "stream_length"),
            "stream_maxlen": ("About how many events the watch's stream keeps (MAXLEN ~).",
                              "stream_maxlen"),
            "dead_letters": ("Events a consumer group gave up on.", "dead_letters"),
        }  # fmt: skip
        for suffix, (text, field) in per_watch.items():
            metric = family(suffix, text, ["watch"])
            for watch in status.watches:
                metric.add_metric([watch.name], float(getattr(watch, field)))
            yield metric
        lag = family("group_lag", "Events of the stream a consumer group "
                     "has not been given yet.", ["watch", "group"])  # fmt: skip
        pending = family("group_pending", "Events given to a consumer group "
                         "and not acknowledged.", ["watch", "group"])  # fmt: skip
        for watch in status.watches:
            for group in watch.groups:
                lag.add_metric([watch.name, group.name], group.lag)
                pending.add_metric([watch.name, group.name], group.pending)
        yield lag
        yield pending
