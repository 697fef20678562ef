"""Rule: every poll request goes through ``send`` and every answer through ``decode`` (one path).

The reader makes one poll of one job, from requests to an observation, or ``None`` if unchanged;
its speed code (prepared requests, body fingerprints) is below, beside the reader it serves.

A job is read whole (one ``get_job_instance_status`` with host rows) and skipped when the body's
fingerprint has not changed; or, with large steps on the gateway, by result groups. Every
request goes through ``send`` and every answer through ``decode``: the engine's one request
path. What the server says about its rate limit on the way goes to the rate governor.

A changed answer read whole comes back ``Unread``: the driver decodes it with ``finish`` later,
together with other answers (``_workers._BATCH``), so that decoding runs several times in a row.
What the reader remembers of a job's answers (its request, the last fingerprint, its result
groups) is the reader's part of the job's row in the registry (``_jobs.Watched``): ``read``
reads it; ``finish`` decodes with the job's row as the due heap handed it out (``_jobs.Row``)
and writes nothing: the answer's fingerprint and where its request ids were go back to the
driver with the answer (``Unread``), for the decision's one write (``Watched.put``).
"""

from __future__ import annotations

import logging
import re
import time
import typing
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

from .._converter import converter
from .._observe import JobObservation, observe_groups, observe_job
from .._protocol import Batches, KeptQuery, Request, parse_retry_after
from .._protocol._request import query_value, trace_fields
from .._protocol.jobs import GET_JOB_INSTANCE_STATUS, GET_STEP_INSTANCE_STATUS
from ..config import Scope
from ..errors import QuotaExceededError, RateLimitedError, ResponseFormatError
from ..models import (
    JobInstanceStatus,
    JobStatus,
)
from ._decide import Answer
from ._jobs import GroupCounts
from ._tracker import Rows, keeper, step_moves

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from typing import Any

    from .._protocol import Protocol, Response
    from ..config import Scope
    from ._jobs import PolledJob, Row, Watched
    from ._policy import PollPolicy

__all__ = ["PollRequests", "Query", "Reader", "Unread", "body_fingerprint"]


# --- query ---------------------------------------------------------------------------------------
#
# The poller's speed code, beside the reader it serves: cheap poll requests, cheap fingerprints.
#
# A watched job's poll request is built once and sent again and again: on the gateway its query
# is a ``Query`` (the scope's part shared by every job of the scope, encoded once; the job's id
# its own value), which also keeps what the transport derived from it (``KeptQuery.prepared``).
# ``body_fingerprint`` tells an unchanged answer without decoding it. Pure; no I/O.


class Query(KeptQuery, Mapping[str, str]):
    """A request's query kept small: pairs many requests share, then the request's own one.

    A poll request lives as long as its job is watched. Its scope's parameters and flags are
    one dict shared by every job of the scope, and the job's id is the request's only own
    value, kept as given and spelled when read: 50,000 watched jobs hold no dict each.
    ``common`` is the shared part, ``(pairs, name of the own value, the pairs encoded)``
    (``Query.common``).
    """

    __slots__ = ("_common", "_value")

    def __init__(self, common: tuple[Mapping[str, str], str, str], value: int | str) -> None:
        super().__init__()
        self._common = common
        self._value = value

    @staticmethod
    def common(pairs: Mapping[str, str], name: str) -> tuple[Mapping[str, str], str, str]:
        """Return the shared part of the queries made of ``pairs`` and an own ``name``."""
        return pairs, name, urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)

    def text(self) -> str:
        """Return the query encoded for a URL: the shared pairs (encoded once), then its own."""
        _, name, encoded = self._common
        value = self._value
        own = str(value) if type(value) is int else urllib.parse.quote(str(value), safe="")
        return f"{encoded}&{name}={own}" if encoded else f"{name}={own}"

    def __getitem__(self, key: str) -> str:
        pairs, name, _ = self._common
        if key == name:
            return query_value(self._value)
        return pairs[key]

    def __iter__(self) -> Iterator[str]:
        pairs, name, _ = self._common
        yield from pairs
        yield name

    def __len__(self) -> int:
        return len(self._common[0]) + 1

    def __repr__(self) -> str:
        return repr(dict(self))


class PollRequests:
    """Build the poller's requests for one ``Protocol``: a job's status (on the gateway with a
    shared ``Query`` per scope), a step's result groups."""

    __slots__ = ("_protocol", "_queried", "_shared", "_url")

    def __init__(self, protocol: Protocol) -> None:
        self._protocol = protocol
        binding = protocol.binding(GET_JOB_INSTANCE_STATUS)
        #: A job's status is a GET with a query here, not v4's (its own parameters), and its
        #: URL, one string for every poll.
        self._queried = binding.method == "GET" and not binding.v4
        self._url = protocol.url(binding.name, v4=binding.v4)
        #: The shared part of each scope's poll query, and the scope's trace text.
        self._shared: dict[
            tuple[str, int, bool], tuple[tuple[Mapping[str, str], str, str], str]
        ] = {}

    def job(
        self,
        scope: Scope,
        job_instance_id: int,
        *,
        with_hosts: bool = True,
        timeout: float | None = None,
    ) -> Request:
        """Return the poll of a job: ``get_job_instance_status`` (with host rows unless told).

        Where it is a GET with a query (the gateway v3, the ESB jobv3 and v2) a scope's request
        is spelled once: a job's costs one ``Request`` and one ``Query`` (made at each send for
        most jobs of a large watch: ``Reader.poll_of``), and the transport may keep its URL.
        """
        protocol = self._protocol
        key = (scope.type.value, scope.id, with_hosts)  # (a ``Scope`` hashes in Python)
        shared = self._shared.get(key)
        job_id: Any = job_instance_id
        if shared is None or type(job_id) is not int or job_id <= 0:
            # Spelled whole: the scope's first, and any id but a plain one (checked there).
            params = protocol.spell(GET_JOB_INSTANCE_STATUS, scope, job_id, with_hosts=with_hosts)
            assert not isinstance(params, Batches)
            if not self._queried:
                request = protocol.request(GET_JOB_INSTANCE_STATUS, params)
                return request if timeout is None else attrs.evolve(request, timeout=timeout)
            job_id = params.pop("job_instance_id")
            if shared is None:
                pairs = {k: query_value(v) for k, v in params.items() if v is not None}
                common = Query.common(pairs, "job_instance_id")
                shared = self._shared[key] = (common, trace_fields(params)["scope"])
        return Request(
            "get_job_instance_status",
            "GET",
            self._url,
            protocol.headers,
            query=Query(shared[0], job_id),
            timeout=timeout,
            scope=shared[1],
            job_instance_id=job_id,
        )

    def step(self, scope: Scope, job_instance_id: int, **filters: Any) -> Request:
        """Return a read of a step's hosts by result group (``get_step_instance_status``)."""
        return self._protocol.build(GET_STEP_INSTANCE_STATUS, scope, job_instance_id, **filters)


# Per-request ids that change on every response even when the data does not.
# A literal quote inside a JSON string is escaped, so this only matches a key.
_VOLATILE_KEY = b'request_id"'


# The value after a key found with bytes.find: matched in place, never searched for.
_VOLATILE_VALUE = re.compile(rb'request_id"\s*:\s*(?:"[^"]*"|null)')


_BITS = (1 << 60) - 1  # (``body_fingerprint``)


def body_fingerprint(body: bytes, known: tuple[int, ...] = ()) -> tuple[int, tuple[int, ...]]:
    """Return a hash of ``body`` without the values of ``job_request_id``/``request_id``.

    Those ids change on every response, the rest only when the answer does: equal hashes mean
    the same answer. The hash keeps 60 bits, so the int a watched job keeps of it takes 32
    bytes, not 48. Returned with the offsets of the ids cut out: pass them as ``known`` with
    the next body of the same job, and when the ids are still there (as in an unchanged answer)
    the body is not searched at all. An id elsewhere is then left in and makes the body look
    changed, as does an id cut short (an escaped quote in it): a cut too few only makes a body
    look changed, never the reverse. Runs on every poll, so it only uses ``bytes.find`` and a
    regex *match* at the places found (a regex *search* would try every quote of the body).
    """
    kept = []
    start = 0
    for found in known:
        value = _VOLATILE_VALUE.match(body, found)
        if value is None or found < start:
            break
        kept.append(body[start:found])
        start = value.end()
    else:
        if known:
            kept.append(body[start:])
            return hash(b"".join(kept)) & _BITS, known
    found = body.find(_VOLATILE_KEY)
    if found < 0:
        return hash(body) & _BITS, ()
    kept.clear()
    start = 0
    cuts = []
    while found >= 0:
        value = _VOLATILE_VALUE.match(body, found)
        if value is None:
            break
        cuts.append(found)
        kept.append(body[start:found])
        start = value.end()
        found = body.find(_VOLATILE_KEY, start)
    kept.append(body[start:])
    return hash(b"".join(kept)) & _BITS, _shared_cuts(tuple(cuts))


#: The one kept tuple equal to a job's places of request ids: every watched job remembers the
#: places of its last answer's ids, and on the gateway those places are the same in every
#: answer (``job_request_id`` comes before ``data``), so all jobs hold one tuple, not one each.
_shared_cuts: Callable[[tuple[int, ...]], tuple[int, ...]] = keeper({}, 4096)


# --- reader --------------------------------------------------------------------------------------


logger = logging.getLogger("bkjob_async.polling")


_REMAINING = "X-Bkapi-RateLimit-Remaining"


_RESET = "X-Bkapi-RateLimit-Reset"


class Unread(NamedTuple):
    """An answer not decoded yet, and its fingerprint: ``Reader.finish`` decodes it."""

    request: Request
    response: Response
    fingerprint: int | None
    #: Where its request ids were (``body_fingerprint``), if not where the job's row says.
    cuts: tuple[int, ...] | None = None


class _Governor(typing.Protocol):
    """What the reader tells the rate governor (``_rate.RateGovernor``) of a rate limit."""

    def hint(self, now: float, remaining: Any, reset: Any, wall: float) -> None: ...

    def pause(self, now: float, seconds: float) -> None: ...


class Reader:
    """Read jobs through one ``send`` and one ``decode``; count the requests it sends."""

    __slots__ = (
        "_clock",
        "_decipher",
        "_generation",
        "_governor",
        "_polls",
        "_protocol",
        "_send",
        "_threshold",
        "_timeout",
        "grouping",
        "requests",
        "rows",
        "unchanged",
    )

    def __init__(
        self,
        protocol: Protocol,
        send: Callable[[Request], Awaitable[Response]],
        policy: PollPolicy,
        governor: _Governor,
        clock: Callable[[], float],
        *,
        grouping: bool,
    ) -> None:
        # The engine's one request path: every poll request goes through ``_send`` and every
        # answer through ``decode`` (which calls ``_decipher``).
        self._send = send
        self._decipher = protocol.decipher
        self._protocol = protocol
        self._polls = PollRequests(protocol)
        self._generation = protocol.generation
        #: A changed host's row into its ``HostResult`` (on the gateway v4, a container's into
        #: its ``ContainerResult``), as its transition is made.
        self.rows = Rows(converter(protocol.generation, protocol.server_tz))
        self._governor = governor
        self._clock = clock
        self._timeout = policy.poll_timeout
        self._threshold = policy.group_threshold or 0
        self.grouping = grouping
        self.requests = 0
        self.unchanged = 0

    def request(self, scope: Scope, job_id: int, **kwargs: Any) -> Request:
        """Return a poll request: ``get_job_instance_status`` with host rows, unless told."""
        if "step_instance_id" in kwargs:
            request = self._polls.step(scope, job_id, **kwargs)
            return attrs.evolve(request, timeout=self._timeout)
        hosts = kwargs.pop("with_hosts", True)
        return self._polls.job(scope, job_id, with_hosts=hosts, timeout=self._timeout)

    def poll_of(self, watched: Watched) -> Request:
        """Return a job's poll request: the one its row keeps, or one made now.

        Only the jobs of the first ``KEPT_REQUESTS`` slots keep theirs (``_jobs``): a
        request and its query are two objects the cyclic garbage collector tracks, and one
        made at a send costs a few microseconds, less than the URL the transport derives for it
        then (``benchmarks/HISTORY.md``, "The 50,000-job watch in two tracked objects a job").
        """
        registry, slot = watched.registry, watched.slot  # (its row, read in place)
        request = registry.requests[slot]
        if request is None:
            hosts = registry.hosts[slot] == 1
            scope, job_id = registry.scopes[slot], registry.ids[slot]
            request = self._polls.job(scope, job_id, with_hosts=hosts, timeout=self._timeout)
        return request

    def redact(self, text: str) -> str:
        """Return ``text`` with the client's secrets masked."""
        return self._protocol.redact(text)

    def decode(self, request: Request, response: Response) -> Any:
        """Return the answer's ``data`` or raise its typed error; take the server's rate hints."""
        headers = response.headers
        remaining = headers.get(_REMAINING)
        if remaining is not None:
            self._governor.hint(self._clock(), remaining, headers.get(_RESET), time.time())
        try:
            return self._decipher(request, response)
        except QuotaExceededError:
            raise  # a full running-job quota: no pause frees a slot
        except RateLimitedError:
            pause = parse_retry_after(headers.get("Retry-After"), time.time())
            if pause is not None:
                self._governor.pause(self._clock(), pause)
            raise

    async def fetch(self, request: Request) -> Any:
        """Send one request (a result group, the job list) and return its decoded ``data``.

        It has the poll timeout as every poll has: a frozen server costs it that long, not the
        client's ``Timeouts``.
        """
        self.requests += 1
        if request.timeout is None and self._timeout is not None:
            request = attrs.evolve(request, timeout=self._timeout)
        return self.decode(request, await self._send(request))

    def with_hosts(self, watched: Watched, hosts: bool) -> None:
        """Poll a job with its host rows or without (a job-level wait needs none)."""
        watched.hosts = hosts
        if watched.request is not None:
            job = watched.job
            watched.request = self.request(job.scope, job.job_instance_id, with_hosts=hosts)
        watched.needs_decode = True

    async def read(self, watched: Watched) -> Answer | Unread | None:
        """Poll a job once; return ``None`` if its answer has not changed.

        A changed answer read whole (HTTP 200) comes back ``Unread`` (``finish`` decodes it);
        any other comes back decoded. Raise ``BkJobError`` for a failed poll (an HTTP error
        status at once; an error in a 200's envelope from ``finish``).
        """
        registry, slot = watched.registry, watched.slot  # (its row, read in place: see ``_jobs``)
        if slot in registry.groups:
            return await self._read_in_groups(watched)
        self.requests += 1
        request = registry.requests[slot] or self.poll_of(watched)
        response = await self._send(request)  # (a busy job's slot is its own until it is done)
        if response.status == 200:
            known = registry.cuts[slot]
            fingerprint, cuts = body_fingerprint(response.body, known)
            # (``cuts`` the same as a rule: keep the old tuple, let the new go at once, not pile
            # up in the collector's youngest generation)
            if fingerprint == registry.prints[slot] and not registry.fresh[slot]:
                if cuts != known:  # (an unchanged answer writes nothing else: kept here)
                    watched.cuts = cuts
                self.unchanged += 1
                return None
            return Unread(request, response, fingerprint, None if cuts == known else cuts)
        # An error, at once (a decoded one too: its fingerprint is none).
        answer = self._decoded(watched, watched.job, False, Unread(request, response, None))
        watched.fingerprint = None
        return answer

    def finish(self, row: Row, unread: Unread) -> Answer:
        """Decode an answer ``read`` returned ``Unread``; raise ``BkJobError`` as ``read``.

        ``row``: the job's row as the due heap handed it out (``_jobs.Row``), which the driver
        applies the answer to. The answer's fingerprint and cuts are the driver's to keep
        (``Watched.put``) once it is applied. The job was read whole, not by result groups
        (``read`` returns those decoded), and nothing else polls it meanwhile.
        """
        return self._decoded(row.watched, row.job, False, unread)

    def _decoded(self, watched: Watched, job: PolledJob, grouped: bool, unread: Unread) -> Answer:
        data = self.decode(unread.request, unread.response)
        observation = observe_job(
            data,
            self._generation,
            expected_job_instance_id=job.job_instance_id,
            known=job.state.step,
        )
        if self.grouping and not grouped:
            self._maybe_group(watched, observation)
        if not observation.finished:  # (most answers: no snapshot to read)
            return Answer(data, observation, None)
        return self._answer(watched, data, observation)

    def _answer(self, watched: Watched, data: Any, observation: JobObservation) -> Answer:
        """Return the answer, with the job's final snapshot if it ended.

        The last word must be readable and whole, or it is none: an unreadable one raises
        ``ResponseFormatError`` (a failed poll, retried), and its answer is not taken as
        unchanged next time.
        """
        if not observation.finished:
            return Answer(data, observation, None)
        try:
            snapshot = _final_snapshot(self._protocol.parse(data, JobInstanceStatus))
        except ResponseFormatError:
            watched.fingerprint = None
            raise
        return Answer(data, observation, snapshot)

    # --- large steps: result groups instead of every host row ---------------------------------

    def _maybe_group(self, watched: Watched, observation: JobObservation) -> None:
        threshold = self._threshold
        for step in observation.steps:  # (a loop: every changed poll comes here)
            listed = step.hosts if step.rows is None else step.rows  # (what ``listed()`` counts)
            if listed is not None and len(listed) > threshold:
                break
        else:
            return
        large = [s.step_instance_id for s in observation.steps if s.listed() > threshold]
        if large:
            watched.groups = {step_id: GroupCounts() for step_id in large}
            logger.debug(
                "job %s: following steps %s by result groups", watched.job.job_instance_id, large
            )

    async def _read_in_groups(self, watched: Watched) -> Answer:
        """Poll a job with large steps: the job without host rows, then only what moved.

        For each step that runs (or just changed), a large step costs one request for its group
        sizes plus one per group that grew; a small one, one request for all its hosts. When
        the job finishes, one full poll is read too, so no final state is missed, and becomes
        the snapshot.
        """
        job = watched.job
        scope, job_id = job.scope, job.job_instance_id
        data = await self.fetch(self.request(scope, job_id, with_hosts=False))
        observation = observe_job(data, self._generation, expected_job_instance_id=job_id)
        for step in observation.steps:
            if step_moves(job.state, step):
                step.hosts = await self._step_rows(watched, step.step_instance_id)
        if observation.finished:
            data = await self.fetch(self.poll_of(watched))
            observation = observe_job(data, self._generation, expected_job_instance_id=job_id)
        return self._answer(watched, data, observation)

    async def _step_rows(self, watched: Watched, step_id: int) -> list[Any]:
        groups = watched.groups
        assert groups is not None
        scope, job_id = watched.job.scope, watched.job.job_instance_id
        counts = groups.get(step_id)
        if counts is None:
            data = await self.fetch(self.request(scope, job_id, step_instance_id=step_id))
            rows = observe_groups(data)[2]
            if len(rows) > self._threshold:
                groups[step_id] = GroupCounts()
            return rows
        data = await self.fetch(
            self.request(scope, job_id, step_instance_id=step_id, max_host_num_per_group=1)
        )
        execute_count, sizes, _ = observe_groups(data)
        rows = []
        for code, tag in counts.grown(execute_count, sizes):
            group = await self.fetch(
                self.request(scope, job_id, step_instance_id=step_id, status=code, tag=tag)
            )
            rows += observe_groups(group)[2]
        return rows


def _final_snapshot(snapshot: JobInstanceStatus) -> JobInstanceStatus:
    """Return ``snapshot`` if it can be a job's last word; raise ``ResponseFormatError``.

    bk-job sets ``finished`` from the job's status (spec §4): ``finished`` beside a known
    status that is not final (2, running, say) is a corrupted answer, not the job's end.
    """
    status = snapshot.job.status
    if not status.is_finished and status in _KNOWN_STATUSES:
        raise ResponseFormatError(
            f"the server sent finished=true for job {snapshot.job.job_instance_id} in status "
            f"{status!r}, which is not final"
        )
    return snapshot


_KNOWN_STATUSES = frozenset(JobStatus)
