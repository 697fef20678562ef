"""Rule: follow logs by polling, one status read a turn, logs only of hosts that moved or run.

``follow_logs`` yields each host's new script-log text while a job runs (bk-job#3825): a turn
reads the job's status with its hosts, then, 500 hosts a request, the logs of the hosts whose
status changed since the last turn or that still run; a host that has ended is read once more
(its last text) and never again. The turn that sees the job's end is the last: no read follows.
No task group is open across a ``yield``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import attrs

from .._protocol import logs
from ..config import check_id
from ..models.enums import HostStatus, StepType
from ..models.instances import Host, HostKey

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

    from ..client import BkJobClient
    from ..config import Scope
    from ..models import JobInstanceStatus

__all__ = ["LogText", "follow_logs"]

#: The steps whose hosts write a script log (a SQL step's is one too).
_SCRIPTS = (StepType.SCRIPT, StepType.SQL)


@attrs.frozen
class LogText:
    """New text of one host's script log: what it printed since the last ``LogText`` of it."""

    step_instance_id: int
    host: Host
    #: The host's status at the read.
    status: HostStatus
    text: str
    #: The log reached bk-job's 5 MB cap (``HostLog.truncated``): nothing more will come.
    truncated: bool = False
    #: The round began again (a retry): ``text`` is the new round's log from its start.
    restarted: bool = False


async def follow_logs(
    client: BkJobClient,
    scope: Scope,
    job_instance_id: int,
    *,
    step_instance_id: int | None = None,
    hosts: Iterable[Host] | None = None,
    interval: float = 2.0,
    sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
) -> AsyncIterator[LogText]:
    """Yield each host's new script-log text as the job runs, until it ends.

    Every script (or SQL) step, or ``step_instance_id``'s only; every host, or ``hosts`` only. Each turn
    costs one status read and ``ceil(n / 500)`` log reads for its ``n`` hosts that moved or
    run; turns are ``interval`` seconds apart (``sleep``); the turn that sees the end reads
    the hosts that ended in it and stops. Bound it with ``anyio.fail_after``. ESB v2 has no
    batch log API: there this raises ``UnsupportedOperationError`` before any request.
    """
    job_id = check_id(job_instance_id, "job_instance_id")
    step_id = None if step_instance_id is None else check_id(step_instance_id, "step_instance_id")
    keys = None if hosts is None else {_host(h).key for h in hosts}
    if not interval > 0 or interval == float("inf"):
        raise ValueError(f"interval must be a finite number of seconds > 0, not {interval!r}")
    # (checks the scope, and that the flavor reads logs: ESB v2 cannot, before any request)
    client.protocol.spell(logs.BATCH_GET_JOB_INSTANCE_IP_LOG, scope, job_id, 1, ())
    seen: dict[tuple[int, HostKey], tuple[HostStatus, str]] = {}
    while True:
        status = await client.get_job_instance_status(scope, job_id)
        for step, wanted in _moved(status, step_id, keys, seen).items():
            rows = await client.batch_get_job_instance_ip_log(  # (500 hosts a request)
                scope, job_id, step, [host for host, _ in wanted]
            )
            got = {row.host.key: row for row in rows}
            for host, now in wanted:
                log = got.get(host.key)
                text = (log.log_content if log else None) or ""
                _, before = seen[step, host.key]
                seen[step, host.key] = (now, text)
                restarted = not text.startswith(before)
                new = text if restarted else text[len(before) :]
                if new:
                    yield LogText(step, host, now, new, bool(log and log.truncated), restarted)
        if status.finished:
            return
        await sleep(interval)


def _host(host: Host) -> Host:
    if not isinstance(host, Host):
        raise TypeError(f"hosts must be Host values, not {type(host).__name__}")
    return host


def _moved(
    status: JobInstanceStatus,
    step_id: int | None,
    keys: set[HostKey] | None,
    seen: dict[tuple[int, HostKey], tuple[HostStatus, str]],
) -> dict[int, list[tuple[Host, HostStatus]]]:
    """Return by step the hosts to read: those whose status changed since the last turn, and
    those still running; record the new statuses (the texts are recorded as they are read)."""
    out: dict[int, list[tuple[Host, HostStatus]]] = {}
    for step in status.steps:
        if step.type not in _SCRIPTS or step_id not in (None, step.step_instance_id):
            continue
        for row in step.hosts or ():
            if row.status is HostStatus.WAITING or (keys is not None and row.host.key not in keys):
                continue
            key = (step.step_instance_id, row.host.key)
            before = seen.get(key)
            if before is None or before[0] != row.status or not row.status.is_finished:
                seen.setdefault(key, (row.status, ""))
                out.setdefault(step.step_instance_id, []).append((row.host, row.status))
    return out
