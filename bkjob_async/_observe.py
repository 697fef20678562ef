"""Read the few fields a poller compares from a job-status ``data`` object; pure, no models.

Full structuring costs microseconds per host; a poll needs only statuses. This reads job, step
and host statuses straight from the wire shape of either generation (and the gateway v4's
execute objects, hosts and containers, with ``_converter._v4``' readers) and leaves each row
for the converter to structure only if it changed. It reads exactly as the converter does (its
scalar readers and ``host_key`` are the converter's), so the two accept the same answers and see
the same hosts, keys and statuses: ``tests/unit/test_wire_agreement.py`` checks it. Two rows for
one host: the last wins. An answer about another job than expected is refused. Errors are
``ResponseFormatError`` whose messages never quote a wire value (it may be an echoed secret).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import compress, repeat
from operator import itemgetter, ne
from typing import Any, Protocol

import attrs

from ._converter import Generation, host_key, read_bool, read_code, read_int
from ._converter import read_rows as _rows
from ._converter._v4 import CONTAINER, HOST, OBJECT_ROWS, container_key, kind_of
from .errors import ResponseFormatError
from .models import HostKey, StepType

__all__ = [
    "GroupKey",
    "JobObservation",
    "StepObservation",
    "observe_groups",
    "observe_job",
    "observe_job_list",
]

#: (key, status code, raw row) of one host, or of one container (v4: keyed ``Container.key``).
HostRow = tuple[HostKey, int, dict[str, Any]]
#: A result group of a step: (host status code, tag).
GroupKey = tuple[int, "str | None"]


class KnownHosts(Protocol):
    """A step's hosts as a poller last saw them: their keys, and their status codes in the same
    order (the poller's ``StepState``)."""

    @property
    def keys(self) -> Sequence[Any]: ...

    @property
    def codes(self) -> Sequence[int]: ...


@attrs.define(eq=False)
class StepObservation:
    """One step as seen in one poll: ``hosts`` is ``None`` when the server sent no host rows.

    On the gateway v4 ``hosts`` holds its containers too, keyed ``("container", id)``.

        ``manual`` marks a manual-confirm step (v3 ``type`` 3): it has no hosts, and bk-job refuses
        ``get_step_instance_status`` for it.

    When the server listed exactly the hosts ``against`` knew, in its order (``observe_job``'s
    ``known``), ``hosts`` holds only the rows whose status differs from ``against``'s and
    ``places`` their positions there; ``rows`` are every row listed, which ``every`` reads
    (``objects``: the gateway v4's execute objects).
    """

    step_instance_id: int
    status: int
    execute_count: int
    hosts: list[HostRow] | None
    manual: bool = False
    against: KnownHosts | None = None
    places: list[int] | None = None
    rows: list[dict[str, Any]] | None = None
    objects: bool = False

    def every(self) -> list[HostRow] | None:
        """Return every host row listed: ``hosts``, or all of ``rows`` if it holds the moved."""
        if self.against is None:
            return self.hosts
        return _objects(self.rows) if self.objects else _hosts(self.rows)

    def listed(self) -> int:
        """Return how many hosts the server listed."""
        return len(self.hosts or ()) if self.rows is None else len(self.rows)


@attrs.define(eq=False)
class JobObservation:
    """A job as seen in one poll."""

    finished: bool
    status: int
    steps: list[StepObservation]


class _OtherJob(Exception):
    """The answer is about another job than the one asked for."""


#: CPython compares ints within this bound on its fast path: the common case is checked
#: against it inline (a changed poll reads every host), the rest as the converter reads it.
_SMALL = 2**30 - 1


def _code(value: Any) -> int:
    if type(value) is int and value <= _SMALL and value >= -_SMALL:
        return value
    return read_code(value)


def _int(value: Any) -> int:
    if type(value) is int and value <= _SMALL and value >= -_SMALL:
        return value
    return read_int(value)


def _count(value: Any) -> int:
    return 0 if value is None else _int(value)


def _hosts(rows: Any) -> list[HostRow] | None:
    if rows is None:
        return None
    hosts: dict[HostKey, HostRow] = {}
    small, negative = _SMALL, -_SMALL
    listed: list[dict[str, Any]] = rows if type(rows) is list else list(_rows(rows))  # type: ignore[arg-type]
    for row in listed:
        key = row.get("bk_host_id")
        if type(key) is not int or key > small or key < negative:
            key = host_key(row)
        status = row["status"]
        if type(status) is not int or status > small or status < negative:
            status = read_code(status)
        # Two rows for one host: the last wins, in the place of the first (as the converter).
        hosts[key] = (key, status, row)
    return list(hosts.values())


def _moved(rows: Any, known: KnownHosts, objects: bool = False) -> list[int] | None:
    """Return the positions of the rows whose status is not ``known``'s, if ``rows`` list
    ``known``'s hosts in its order, each keyed by an int ``bk_host_id`` and with an int status
    (the common form, which ``_hosts`` reads alike); else ``None``: ``_hosts`` reads them.
    ``objects``: the rows are the gateway v4's execute objects, each a host (its ``type`` the
    int ``HOST``, its ``host`` a mapping), read alike by ``_objects``.

    Runs on every changed answer of a step of ``_FEW`` hosts or more, so its loops are C's
    (``map``, ``compress``, list equality), not the interpreter's: the ids and statuses are
    read whole, compared whole, and only the rows that moved are looked at one by one.
    """
    keys, codes = known.keys, known.codes
    if type(rows) is not list or len(rows) != len(keys):
        return None
    try:  # (a row not a mapping with a status: ``_hosts`` or ``_objects`` refuses it)
        if objects:
            targets = list(map(_TARGET, rows))
            kinds = list(map(_TYPE, targets))
            if kinds.count(HOST) != len(kinds) or not _INT.issuperset(map(type, kinds)):
                return None
            ids = list(map(dict.get, map(_HOST, targets), _HOST_ID))
        else:
            ids = list(map(dict.get, rows, _HOST_ID))
        statuses = list(map(_STATUS, rows))
    except (TypeError, KeyError):
        return None
    known_ids = keys.tolist() if type(keys) is memoryview else list(keys)
    # (a known key is a readable one: a row keyed as it is, by an int, is read alike)
    if ids != known_ids or not _INT.issuperset(map(type, ids)):
        return None
    if not _INT.issuperset(map(type, statuses)):
        return None
    moved = list(compress(range(len(statuses)), map(ne, statuses, codes)))
    for j in moved:
        if not -_SMALL <= statuses[j] <= _SMALL:
            return None
    return moved


_HOST_ID = repeat("bk_host_id")
_STATUS = itemgetter("status")
_TARGET, _TYPE, _HOST = itemgetter("execute_object"), itemgetter("type"), itemgetter("host")
_INT = frozenset((int,))


def _objects(rows: Any) -> list[HostRow]:
    """Read v4's execute object rows: a host keyed as v3 keys it, a container by
    ``Container.key``; each keeps its v4 row (``host_row`` makes a host's v3 row of it)."""
    objects: dict[Any, HostRow] = {}
    small, negative = _SMALL, -_SMALL
    listed: list[dict[str, Any]] = list(_rows(rows))  # type: ignore[arg-type]
    for row in listed:
        target = row["execute_object"]
        kind = kind_of(target)
        if kind == HOST:
            host = target["host"]
            key: Any = host.get("bk_host_id")
            if type(key) is not int or key > small or key < negative:
                key = host_key(host)
        elif kind == CONTAINER:
            key = container_key(target)
        else:
            continue
        objects[key] = (key, _code(row["status"]), row)  # (the last wins, as for hosts)
    return list(objects.values())


_MANUAL_CONFIRM = int(StepType.MANUAL_CONFIRM)


def _job(data: dict[str, Any], finished: Any, expected: int | None) -> tuple[bool, int]:
    job = data["job_instance"]
    job_id = _int(job["job_instance_id"])
    if expected is not None and job_id != expected:
        raise _OtherJob(f"it is about job {job_id}, not {expected}")
    return (finished if type(finished) is bool else read_bool(finished)), _code(job["status"])


#: Steps of fewer hosts are read whole: comparing them first saves less than it costs.
_FEW = 8


#: A step's known hosts by its id (``None``: none known).
Known = Callable[[int], "KnownHosts | None"]


def _step(
    step: Any, counts: tuple[str, ...], rows: str, typed: bool, known: Known | None
) -> StepObservation:
    """Read one step row: its round is the first of ``counts`` it has, its hosts are ``rows``.

    The ids and codes in their common form (``_SMALL``) are read here; the others as the
    converter reads them (``read_int``, ``read_code``), in the same order as the fields.
    """
    small, negative = _SMALL, -_SMALL
    step_id = step["step_instance_id"]
    if type(step_id) is not int or step_id > small or step_id < negative:
        step_id = read_int(step_id)
    status = step["status"]
    if type(status) is not int or status > small or status < negative:
        status = read_code(status)
    first = counts[0]  # (v2: ``retry_count`` when there is no ``execute_count``)
    count = step.get(first) if len(counts) == 1 or first in step else step.get(counts[1])
    manual = typed and step.get("type") == _MANUAL_CONFIRM
    listed = step.get(rows)
    objects = listed is None and OBJECT_ROWS in step  # (the gateway v4: execute objects)
    if objects:
        listed = step[OBJECT_ROWS]
    if type(listed) is list and len(listed) >= _FEW and known is not None:
        against = known(step_id)
        moved = None if against is None else _moved(listed, against, objects)
        if moved is not None:  # (only the rows that moved are read: the others are known)
            read = _object_row if objects else _row
            hosts: list[HostRow] | None = [read(listed[j]) for j in moved]
            return StepObservation(
                step_id, status, _count(count), hosts, manual, against, moved, listed, objects
            )
        hosts = _objects(listed) if objects else _hosts(listed)
    elif objects:
        hosts = None if listed is None else _objects(listed)
    elif type(listed) is list and not listed:  # (a step not started: no rows yet)
        hosts = []
    else:
        hosts = _hosts(listed)
    if count is None:
        count = 0
    elif type(count) is not int or count > small or count < negative:
        count = read_int(count)
    return StepObservation(step_id, status, count, hosts, manual)


def _row(row: dict[str, Any]) -> HostRow:
    return row["bk_host_id"], row["status"], row


def _object_row(row: dict[str, Any]) -> HostRow:
    return row["execute_object"]["host"]["bk_host_id"], row["status"], row


def _v3(data: dict[str, Any], expected: int | None, known: Known | None) -> JobObservation:
    finished, status = _job(data, data["finished"], expected)
    steps = [
        _step(step, ("execute_count",), "step_ip_result_list", True, known)
        for step in _rows(data.get("step_instance_list"))
    ]
    return JobObservation(finished, status, steps)


def _v2(data: dict[str, Any], expected: int | None, known: Known | None) -> JobObservation:
    finished, status = _job(data, data["is_finished"], expected)
    steps = [
        # 3.x sends execute_count, the v2 docs retry_count (as the converter reads it).
        _step(step, ("execute_count", "retry_count"), "step_ip_status", False, known)
        for block in _rows(data.get("blocks"))
        for step in _rows(block.get("step_instances"))
    ]
    return JobObservation(finished, status, steps)


def observe_job(
    data: Any,
    generation: Generation,
    *,
    expected_job_instance_id: int | None = None,
    known: Known | None = None,
) -> JobObservation:
    """Read statuses from ``get_job_instance_status`` data; raise ``ResponseFormatError``.

    With ``expected_job_instance_id``, an answer about another job is refused too. With
    ``known`` (a step's hosts as last seen, by step id), a step whose rows list its known hosts
    in their order has only the rows that moved read (``StepObservation``): a changed answer
    of a large step moves a few hosts.
    """
    try:
        read = _v3 if generation is Generation.V3 else _v2
        return read(data, expected_job_instance_id, known)
    except _OtherJob as exc:
        error = ResponseFormatError(f"the server sent the status of another job: {exc}")
    except Exception as exc:
        error = _unreadable("job", exc)
    raise error


def observe_groups(data: Any) -> tuple[int, dict[GroupKey, int], list[HostRow]]:
    """Read gateway ``get_step_instance_status`` data: round, group sizes, listed host rows.

    ``host_size`` counts every host of a group even when ``max_host_num_per_group`` cut the
    list; the rows are those the server listed (one per host: the last wins). Raise
    ``ResponseFormatError``.
    """
    try:
        counts: dict[GroupKey, int] = {}
        rows: dict[HostKey, HostRow] = {}
        for group in _rows(data.get("step_result_group_list")):
            tag = group.get("tag") or None
            counts[(_code(group["result_type"]), tag)] = _count(group.get("host_size"))
            rows.update((row[0], row) for row in _hosts(group.get("host_result_list")) or ())
        return _count(data.get("execute_count")), counts, list(rows.values())
    except Exception as exc:
        error = _unreadable("step", exc)
    raise error


#: The epoch milliseconds a ``datetime`` holds (the converter reads outside them as an error).
_FIRST_MS, _LAST_MS = -62_135_596_800_000, 253_402_300_799_999


def observe_job_list(data: Any) -> tuple[int, int, dict[int, tuple[int, int | None]]] | None:
    """Read a page of the job list (v3's ``{start, total, data}``) for each job's status alone.

    Return ``(rows on the page, total, {job id: (status code, create_time)})`` (a job listed
    twice: the last wins), each ``create_time`` as the epoch milliseconds sent (``None``: none),
    no ``datetime`` built: a census reads a thousand rows a page and needs the time of few. Or
    ``None`` when a value is not in its common form (a time that is not an int, say) or the page
    is not readable: the converter then reads it as a ``JobStatusPage``, and takes or refuses it.
    What this reads, the converter reads alike (``tests/unit/test_wire_agreement.py``).
    """
    try:
        rows: dict[int, tuple[int, int | None]] = {}
        listed: Any = _rows(data.get("data"))
        for row in listed:
            created = row.get("create_time")
            if created is not None and (
                type(created) is not int or created < _FIRST_MS or created > _LAST_MS
            ):
                return None
            rows[_int(row["job_instance_id"])] = (_code(row["status"]), created)
        _int(data["start"])
        return len(listed), _int(data["total"]), rows
    except Exception:
        return None


def _unreadable(what: str, exc: Exception) -> ResponseFormatError:
    """Describe a failed read by the error's type and our own message, never a wire value."""
    # KeyError names the missing key (ours); the readers' messages name types, not values.
    detail = str(exc) if isinstance(exc, (KeyError, ValueError)) else "unexpected shape"
    return ResponseFormatError(
        f"the server sent a {what} status this client cannot read ({type(exc).__name__}: {detail})"
    )
