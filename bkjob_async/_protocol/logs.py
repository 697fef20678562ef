"""Rule: the log family's rows check hosts and batch sizes before any request; pure, no I/O.

The log family: one host's log, many hosts' (500 a request), v2's whole-job log, and v4's
logs of execute objects, hosts or containers (50 a request).

Rows of the endpoint table (``_api.Api``) with their spellings; pure, no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._params import MAX_LOG_HOSTS, HostRef, host_ref, host_refs, step_ids
from ..config import Scope, check_id
from ..models import HostLog, StepLog
from . import _v4
from ._api import GET, POST, Batches, Params, Parse, ids, model, row, v2_scoped, v3_scoped

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "BATCH_GET_JOB_INSTANCE_EXECUTE_OBJECT_LOG",
    "BATCH_GET_JOB_INSTANCE_IP_LOG",
    "GET_JOB_INSTANCE_IP_LOG",
    "GET_JOB_INSTANCE_LOG",
]


def ip_log(scope: Scope, job_instance_id: int, step_instance_id: int, host: HostRef) -> Params:
    """Spell ``get_job_instance_ip_log`` for one host of a step's current round."""
    return v3_scoped(scope, **step_ids(job_instance_id, step_instance_id), **host_ref(host))


GET_JOB_INSTANCE_IP_LOG = row(
    "get_job_instance_ip_log",
    GET,
    model(HostLog),
    v3=ip_log,
    doc="""Return one host's log in a step's current round (v3 only).

    ``host`` is a ``bk_host_id``, a ``Host`` or a ``(bk_cloud_id, ip)`` pair; bk-job
    echoes it as asked, so a host given by id comes back without its ip.
    """,
    resource="`EsbGetJobInstanceIpLogV3Resource`",
)


def batch_log(
    scope: Scope, job_instance_id: int, step_instance_id: int, hosts: Sequence[HostRef]
) -> Params:
    """Spell ``batch_get_job_instance_ip_log`` for 1 to 500 hosts.

    Host ids travel in ``host_id_list`` and ``(cloud, ip)`` pairs in ``ip_list``. bk-job
    reads only ``host_id_list`` when both are given, so a mix travels in ``ip_list``, whose
    rows may name a ``bk_host_id`` (``ExecuteObjectCompositeKeyUtils.fromEsbHostParams``). A
    host by ``(cloud, ip)`` must have an IPv4 address (``_ipv4_only``).
    """
    refs = [host_ref(host) for host in host_refs(hosts)]
    if not refs or len(refs) > MAX_LOG_HOSTS:
        raise ValueError(f"give 1 to {MAX_LOG_HOSTS} hosts per request, not {len(refs)}")
    if all("bk_host_id" in ref for ref in refs):
        lists: dict[str, Any] = {"host_id_list": [ref["bk_host_id"] for ref in refs]}
    else:
        lists = {"ip_list": _ipv4_only(refs)}
    return v3_scoped(scope, **step_ids(job_instance_id, step_instance_id), **lists)


def _ipv4_only(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return ``ip_list`` rows; one by ``(cloud, ip)`` must be IPv4 (``OpenApiHostDTO``, v4's
    ``OpenApiV4HostDTO``: an IPv4 pattern on ``ip``; bk-job refuses the request, 1240003)."""
    for one in rows:
        if "bk_host_id" not in one and ":" in one["ip"]:
            raise ValueError(
                f"{one['bk_cloud_id']}:{one['ip']} is an IPv6 address; bk-job's batch log APIs "
                "take only IPv4 addresses by (cloud, ip): name an IPv6 host by its bk_host_id"
            )
    return rows


def batch_logs(
    scope: Scope, job_instance_id: int, step_instance_id: int, hosts: Sequence[HostRef]
) -> Batches:
    """Spell one ``batch_get_job_instance_ip_log`` per 500 hosts, in order; none for none."""
    refs = host_refs(hosts)
    v3_scoped(scope, **step_ids(job_instance_id, step_instance_id))
    return Batches(
        batch_log(scope, job_instance_id, step_instance_id, refs[i : i + MAX_LOG_HOSTS])
        for i in range(0, len(refs), MAX_LOG_HOSTS)
    )


def _logs(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> tuple[HostLog, ...]:
    return parse(data, tuple[HostLog, ...])  # type: ignore[no-any-return]


BATCH_GET_JOB_INSTANCE_IP_LOG = row(
    "batch_get_job_instance_ip_log",
    POST,
    _logs,
    v3=batch_logs,
    idempotent=True,
    doc="""Return the logs of any number of hosts, asked 500 at a time (bk-job's limit).

    Every request is built, and every host checked, before the first is sent; the answers
    are concatenated in request order. bk-job leaves out hosts it has no log for (or, for
    a file step, answers a row of nulls only, which is left out here too).
    """,
    resource="`EsbBatchGetJobInstanceIpLogV3Resource`",
)


#: v4's cap on execute objects per log request (``V4BatchGetJobInstanceExecuteObjectLogRequest``).
MAX_LOG_OBJECTS_V4 = 50


def _object_log(
    scope: Scope, step: Params, hosts: Sequence[HostRef], container_ids: Sequence[int]
) -> Params:
    """Spell one ``batch_get_job_instance_execute_object_log`` for 1 to 50 hosts or containers
    of ``step`` (its ``step_ids``).

    bk-job reads one list only (``host_id_list`` > ``ip_list`` > ``container_id_list``,
    ``ExecuteObjectsLogGroupSequenceProvider``): hosts and containers in one call are refused,
    and so is an IPv6 address by ``(cloud, ip)`` (``_ipv4_only``).
    """
    refs = [host_ref(host) for host in host_refs(hosts)]
    if isinstance(container_ids, (str, bytes)):
        raise TypeError("container_ids must be a sequence of ints")
    ids = [check_id(c, "container id") for c in container_ids]
    if refs and ids:
        raise ValueError(
            "give hosts or container_ids, not both: bk-job reads one list of execute objects "
            "per request (host_id_list, else ip_list, else container_id_list)"
        )
    count = len(refs) or len(ids)
    if not count or count > MAX_LOG_OBJECTS_V4:
        raise ValueError(f"give 1 to {MAX_LOG_OBJECTS_V4} execute objects per request, not {count}")
    if ids:
        lists: dict[str, Any] = {"container_id_list": ids}
    elif all("bk_host_id" in ref for ref in refs):
        lists = {"host_id_list": [ref["bk_host_id"] for ref in refs]}
    elif not any("bk_host_id" in ref for ref in refs):
        lists = {"ip_list": _ipv4_only(refs)}
    else:
        raise ValueError(
            "give every host by id or every host by (cloud, ip): bk-job reads host_id_list alone "
            "when it is given and would drop the others"
        )
    return v3_scoped(scope, **step, **lists)


def object_logs(
    scope: Scope,
    job_instance_id: int,
    step_instance_id: int,
    *,
    hosts: Sequence[HostRef] = (),
    container_ids: Sequence[int] = (),
) -> Batches:
    """Spell one request per 50 hosts or containers, in order; none for none."""
    refs, ids = host_refs(hosts), tuple(container_ids)
    step = step_ids(job_instance_id, step_instance_id)
    v3_scoped(scope, **step)
    if refs and ids:
        _object_log(scope, step, refs, ids)  # (refuses the mix)
    most = MAX_LOG_OBJECTS_V4
    return Batches(
        _object_log(scope, step, refs[i : i + most], ids[i : i + most])
        for i in range(0, max(len(refs), len(ids)), most)
    )


BATCH_GET_JOB_INSTANCE_EXECUTE_OBJECT_LOG = row(
    "batch_get_job_instance_execute_object_log",
    POST,
    _v4.object_logs,
    v4=object_logs,
    idempotent=True,
    doc="""Return the logs of hosts or containers of a step, asked 50 at a time (gateway v4).

    Give ``hosts`` (ids, ``Host`` values or ``(bk_cloud_id, ip)`` pairs) or
    ``container_ids`` (each a ``Container.id``), not both: bk-job reads one list per
    request. Every request is built before the first is sent; answers are concatenated.
    """,
    resource="v4 `OpenApiBatchGetJobInstanceExecuteObjectLogV4Resource`",
)


def _step_logs(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> tuple[StepLog, ...]:
    return parse(data, tuple[StepLog, ...])  # type: ignore[no-any-return]


GET_JOB_INSTANCE_LOG = row(
    "get_job_instance_log",
    GET,
    _step_logs,
    v2=ids(v2_scoped, job_instance_id="job_instance_id"),
    doc="""Return every step of a job with each host's status and log (ESB v2 only).

    The v3 flavors have no such API (use ``batch_get_job_instance_ip_log``): there this
    raises ``UnsupportedOperationError`` before any request.
    """,
    resource="v2 `EsbGetJobInstanceLogResource`",
)
