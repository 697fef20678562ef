"""The poller's speed code, beside the reader it serves: cheap poll requests, cheap fingerprints.

A watched job's poll request is built once and sent again and again: on the gateway its query
is a ``Query`` (the scope's part shared by every job of the scope, encoded once; the job's id
its own value), which also keeps what the transport derived from it (``KeptQuery.prepared``).
``body_fingerprint`` tells an unchanged answer without decoding it. Pure; no I/O.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .._protocol import Batches, KeptQuery, Request
from .._protocol._request import query_value, trace_fields
from .._protocol.jobs import GET_JOB_INSTANCE_STATUS, GET_STEP_INSTANCE_STATUS
from ..config import ApiFlavor, Scope
from ._state import keeper

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from .._protocol import Protocol

__all__ = ["PollRequests", "Query", "body_fingerprint"]


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

    __slots__ = ("_protocol", "_shared")

    def __init__(self, protocol: Protocol) -> None:
        self._protocol = protocol
        #: The shared part of each scope's poll query, and the scope's trace text.
        self._shared: dict[tuple[Scope, bool], tuple[tuple[Mapping[str, str], str, str], str]] = {}

    def job(self, scope: Scope, job_instance_id: int, *, with_hosts: bool = True) -> Request:
        """Return the poll of a job: ``get_job_instance_status`` (with host rows unless told)."""
        protocol = self._protocol
        params = protocol.spell(
            GET_JOB_INSTANCE_STATUS, scope, job_instance_id, with_hosts=with_hosts
        )
        assert not isinstance(params, Batches)
        if protocol.flavor is not ApiFlavor.APIGW_V3:
            return protocol.request(GET_JOB_INSTANCE_STATUS, params)
        job_id = params.pop("job_instance_id")
        key = (scope, bool(with_hosts))
        shared = self._shared.get(key)
        if shared is None:
            pairs = {k: query_value(v) for k, v in params.items() if v is not None}
            common = Query.common(pairs, "job_instance_id")
            shared = self._shared[key] = (common, trace_fields(params)["scope"])
        return Request(
            "get_job_instance_status",
            "GET",
            protocol.url("get_job_instance_status"),
            protocol.headers,
            query=Query(shared[0], job_id),
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
