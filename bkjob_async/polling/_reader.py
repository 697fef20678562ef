"""The reader: one poll of one job, from requests to an observation, or ``None`` if unchanged.

A job is read whole (one ``get_job_instance_status`` with host rows) and skipped when the body's
fingerprint has not changed; or, with large steps on the gateway, by result groups. Every
request goes through ``send`` and every answer through ``decode``: the engine's one request
path. What the server says about its rate limit on the way goes to the rate governor.

A changed answer read whole comes back ``Unread``: the engine decodes it with ``finish`` later,
together with other answers (``_engine._BATCH``), so that decoding runs several times in a row.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

from .._observe import JobObservation, observe_groups, observe_job
from .._protocol import body_fingerprint
from ..errors import RateLimitedError
from ._rate import parse_retry_after
from ._tracker import GroupCounts, step_moves

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .._protocol import Protocol, Request, Response
    from ..config import Scope
    from ._rate import RateGovernor
    from ._registry import Instance
    from ._schedule import PollPolicy

__all__ = ["Read", "Reader", "Unread"]

logger = logging.getLogger("bkjob_async.polling")

_REMAINING = "X-Bkapi-RateLimit-Remaining"
_RESET = "X-Bkapi-RateLimit-Reset"

#: What a changed poll read: the envelope's ``data`` and the statuses observed in it.
Read = tuple[Any, JobObservation]


class Unread(NamedTuple):
    """An answer not decoded yet, and its fingerprint: ``Reader.finish`` decodes it."""

    request: Request
    response: Response
    fingerprint: int | None


class Reader:
    """Read jobs through one ``send`` and one ``decode``; count the requests it sends."""

    __slots__ = (
        "_clock",
        "_decipher",
        "_generation",
        "_governor",
        "_protocol",
        "_send",
        "_threshold",
        "_timeout",
        "grouping",
        "requests",
        "unchanged",
    )

    def __init__(
        self,
        protocol: Protocol,
        send: Callable[[Request], Awaitable[Response]],
        policy: PollPolicy,
        governor: RateGovernor,
        clock: Callable[[], float],
        *,
        grouping: bool,
    ) -> None:
        # The engine's one request path: every poll request goes through ``_send`` and every
        # answer through ``decode`` (which calls ``_decipher``).
        self._send = send
        self._decipher = protocol.decipher
        self._protocol = protocol
        self._generation = protocol.generation
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
            request = self._protocol.step_instance_status(scope, job_id, **kwargs)
        else:
            with_hosts = kwargs.pop("with_hosts", True)
            request = self._protocol.job_instance_status(scope, job_id, with_hosts=with_hosts)
        return attrs.evolve(request, timeout=self._timeout)

    def decode(self, request: Request, response: Response) -> Any:
        """Return the answer's ``data`` or raise its typed error; take the server's rate hints."""
        headers = response.headers
        remaining = headers.get(_REMAINING)
        if remaining is not None:
            self._governor.hint(self._clock(), remaining, headers.get(_RESET), time.time())
        try:
            return self._decipher(request, response)
        except RateLimitedError:
            pause = parse_retry_after(headers.get("Retry-After"), time.time())
            if pause is not None:
                self._governor.pause(self._clock(), pause)
            raise

    async def _fetch(self, request: Request) -> Any:
        self.requests += 1
        return self.decode(request, await self._send(request))

    async def read(self, instance: Instance) -> Read | Unread | None:
        """Poll ``instance`` once; return ``None`` if its answer has not changed.

        A changed answer read whole (HTTP 200) comes back ``Unread`` (``finish`` decodes it);
        any other comes back decoded. Raise ``BkJobError`` for a failed poll (an HTTP error
        status at once; an error in a 200's envelope from ``finish``).
        """
        if instance.groups is not None:
            return await self._read_in_groups(instance)
        self.requests += 1
        request = instance.request
        response = await self._send(request)
        if response.status == 200:
            fingerprint, instance.cuts = body_fingerprint(response.body, instance.cuts)
            if fingerprint == instance.fingerprint and not instance.needs_decode:
                self.unchanged += 1
                return None
            return Unread(request, response, fingerprint)
        return self.finish(instance, Unread(request, response, None))  # an error, at once

    def finish(self, instance: Instance, unread: Unread) -> Read:
        """Decode an answer ``read`` returned ``Unread``; raise ``BkJobError`` as ``read``."""
        data = self.decode(unread.request, unread.response)
        observation = observe_job(
            data, self._generation, expected_job_instance_id=instance.job_instance_id
        )
        instance.fingerprint = unread.fingerprint
        if self.grouping and instance.groups is None:
            self._maybe_group(instance, observation)
        return data, observation

    # --- large steps: result groups instead of every host row ---------------------------------

    def _maybe_group(self, instance: Instance, observation: JobObservation) -> None:
        threshold = self._threshold
        for step in observation.steps:  # (a loop: every changed poll comes here)
            if step.hosts is not None and len(step.hosts) > threshold:
                break
        else:
            return
        large = [s.step_instance_id for s in observation.steps if len(s.hosts or ()) > threshold]
        if large:
            instance.groups = {step_id: GroupCounts() for step_id in large}
            logger.debug(
                "job %s: following steps %s by result groups", instance.job_instance_id, large
            )

    async def _read_in_groups(self, instance: Instance) -> Read:
        """Poll a job with large steps: the job without host rows, then only what moved.

        For each step that runs (or just changed), a large step costs one request for its group
        sizes plus one per group that grew; a small one, one request for all its hosts. When
        the job finishes, one full poll is read too, so no final state is missed, and becomes
        the snapshot.
        """
        scope, job_id = instance.scope, instance.job_instance_id
        data = await self._fetch(self.request(scope, job_id, with_hosts=False))
        observation = observe_job(data, self._generation, expected_job_instance_id=job_id)
        for step in observation.steps:
            if step_moves(instance.state, step):
                step.hosts = await self._step_rows(instance, step.step_instance_id)
        if observation.finished:
            data = await self._fetch(instance.request)
            observation = observe_job(data, self._generation, expected_job_instance_id=job_id)
        return data, observation

    async def _step_rows(self, instance: Instance, step_id: int) -> list[Any]:
        assert instance.groups is not None
        scope, job_id = instance.scope, instance.job_instance_id
        counts = instance.groups.get(step_id)
        if counts is None:
            data = await self._fetch(self.request(scope, job_id, step_instance_id=step_id))
            rows = observe_groups(data)[2]
            if len(rows) > self._threshold:
                instance.groups[step_id] = GroupCounts()
            return rows
        data = await self._fetch(
            self.request(scope, job_id, step_instance_id=step_id, max_host_num_per_group=1)
        )
        execute_count, sizes, _ = observe_groups(data)
        rows = []
        for code, tag in counts.grown(execute_count, sizes):
            group = await self._fetch(
                self.request(scope, job_id, step_instance_id=step_id, status=code, tag=tag)
            )
            rows += observe_groups(group)[2]
        return rows
