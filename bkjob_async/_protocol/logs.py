"""The log family: one host's log, many hosts' (500 a request), and v2's whole-job log.

Rows of the endpoint table (``_api.Api``) with their spellings; pure, no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._params import MAX_LOG_HOSTS, HostRef, host_ref, host_refs, step_ids
from ..config import Scope, check_id
from ..models import HostLog, StepLog
from ._api import GET, POST, Batches, Params, Parse, model, row, v2_scoped, v3_scoped

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["BATCH_GET_JOB_INSTANCE_IP_LOG", "GET_JOB_INSTANCE_IP_LOG", "GET_JOB_INSTANCE_LOG"]


def ip_log_v3(scope: Scope, job_instance_id: int, step_instance_id: int, host: HostRef) -> Params:
    """Spell ``get_job_instance_ip_log`` for one host of a step's current round."""
    return v3_scoped(scope, **step_ids(job_instance_id, step_instance_id), **host_ref(host))


GET_JOB_INSTANCE_IP_LOG = row("get_job_instance_ip_log", GET, model(HostLog), v3=ip_log_v3)


def batch_log_v3(
    scope: Scope, job_instance_id: int, step_instance_id: int, hosts: Sequence[HostRef]
) -> Params:
    """Spell ``batch_get_job_instance_ip_log`` for 1 to 500 hosts.

    Host ids travel in ``host_id_list`` and ``(cloud, ip)`` pairs in ``ip_list``. bk-job
    reads only ``host_id_list`` when both are given, so a mix travels in ``ip_list``, whose
    rows may name a ``bk_host_id`` (``ExecuteObjectCompositeKeyUtils.fromEsbHostParams``).
    """
    refs = [host_ref(host) for host in host_refs(hosts)]
    if not refs or len(refs) > MAX_LOG_HOSTS:
        raise ValueError(f"give 1 to {MAX_LOG_HOSTS} hosts per request, not {len(refs)}")
    if all("bk_host_id" in ref for ref in refs):
        lists: dict[str, Any] = {"host_id_list": [ref["bk_host_id"] for ref in refs]}
    else:
        lists = {"ip_list": refs}
    return v3_scoped(scope, **step_ids(job_instance_id, step_instance_id), **lists)


def batch_logs_v3(
    scope: Scope, job_instance_id: int, step_instance_id: int, hosts: Sequence[HostRef]
) -> Batches:
    """Spell one ``batch_get_job_instance_ip_log`` per 500 hosts, in order; none for none."""
    refs = host_refs(hosts)
    v3_scoped(scope, **step_ids(job_instance_id, step_instance_id))
    return Batches(
        batch_log_v3(scope, job_instance_id, step_instance_id, refs[i : i + MAX_LOG_HOSTS])
        for i in range(0, len(refs), MAX_LOG_HOSTS)
    )


def _logs(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> tuple[HostLog, ...]:
    return parse(data, tuple[HostLog, ...])  # type: ignore[no-any-return]


BATCH_GET_JOB_INSTANCE_IP_LOG = row(
    "batch_get_job_instance_ip_log", POST, _logs, v3=batch_logs_v3, idempotent=True
)


def job_log_v2(scope: Scope, job_instance_id: int) -> Params:
    """Spell v2's ``get_job_instance_log``: every step of a job with each host's log."""
    return v2_scoped(scope, job_instance_id=check_id(job_instance_id, "job_instance_id"))


def _step_logs(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> tuple[StepLog, ...]:
    return parse(data, tuple[StepLog, ...])  # type: ignore[no-any-return]


GET_JOB_INSTANCE_LOG = row("get_job_instance_log", GET, _step_logs, v2=job_log_v2)
