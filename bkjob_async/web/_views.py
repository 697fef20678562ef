"""The dashboard's pages and its JSON: what each URL answers; no state of its own.

Rule: a page is one HTML shell (the same for every page, escaped, no inline script or style)
and the script fills it from the JSON below with ``textContent`` only: a name from bk-job is
never markup. Everything a handler reads comes from the ``Board`` (kept while someone looks),
the poller's ``statistics()``, or one request to bk-job the viewer asked for (a job's page,
a host's log): never a list of every job.
"""

from __future__ import annotations

import asyncio
import html
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import errors
from ..config import Scope
from ..models import Host, HostStatus, JobStatus, StepOperation
from ._board import BUCKETS
from ._feed import host_state, host_text
from ._names import ENDED
from ._static import ASSETS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..models import JobInstanceStatus, StepInstance
    from ._board import Board, JobRow
    from ._names import Namer

__all__ = ["CLUSTER_PAGE", "PAGES", "STEP_ACTIONS", "Dashboard", "shell"]

#: The pages: route name -> (path, title).
PAGES = {
    "overview": ("/", "Overview"),
    "jobs": ("/jobs", "Jobs"),
    "failed": ("/failed", "Failed hosts"),
    "feed": ("/feed", "Live feed"),
}
#: What a job's page offers on a step, by name: the operation, and the step statuses bk-job
#: allows it in (``StepOperationEnum``'s rules, as ``bkjob-async operate`` knows them).
STEP_ACTIONS: dict[str, tuple[StepOperation, frozenset[JobStatus]]] = {
    "confirm": (StepOperation.CONFIRM_CONTINUE, frozenset({JobStatus.WAITING_USER})),
    "refuse": (StepOperation.CONFIRM_TERMINATE, frozenset({JobStatus.WAITING_USER})),
    "skip": (StepOperation.SKIP, frozenset({JobStatus.STOPPING})),
    "ignore-error": (
        StepOperation.IGNORE_ERROR,
        frozenset({JobStatus.FAIL, JobStatus.ABNORMAL_STATE}),
    ),
}
#: The job statuses bk-job lets a job be terminated in.
TERMINABLE = frozenset({JobStatus.RUNNING, JobStatus.WAITING_USER})
#: The page of a cluster (``dashboard_app(..., cluster=)``, or a cluster's own dashboard).
CLUSTER_PAGE = ("/cluster", "Cluster")
#: Rows a jobs page may ask for at once.
MAX_PAGE = 200
#: Characters of a host's log the page gets (its end).
LOG_TAIL = 16_000
#: Folds to wait for a job that is not on the board yet (a watch took it a moment ago).
_JOIN_WAIT = 20


def _scope(text: str) -> Scope:
    try:
        return Scope.parse(text)
    except ValueError:
        raise web.HTTPNotFound(text="no such scope") from None


def _job_id(text: str) -> int:
    if not text.isdigit() or len(text) > 19:
        raise web.HTTPNotFound(text="no such job")
    return int(text)


def _int(query: Any, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number") from None
    return min(max(value, low), high)


def host_from_text(text: str) -> Host:
    """Return the host a page names (``host_text``): a ``bk_host_id`` or ``cloud/ip/ipv6``."""
    if text.isdigit():
        return Host(bk_host_id=int(text))
    parts = text.split("/")
    if len(parts) != 3 or not (parts[0] == "" or parts[0].isdigit()):
        raise web.HTTPBadRequest(text="host must be a bk_host_id or cloud/ip/ipv6")
    cloud, ip, ipv6 = parts
    return Host(ip=ip or None, bk_cloud_id=int(cloud) if cloud else None, ipv6=ipv6 or None)


def _status_name(status: JobStatus | None) -> str:
    return "-" if status is None else status.name


def shell(
    request: web.Request,
    page: str,
    title: str,
    pages: dict[str, tuple[str, str]],
    operations: bool = False,
    **data: str,
) -> web.Response:
    """Return a page's HTML shell: navigation (``pages``: route name -> (path, title)), an
    empty main, the script, which fills it from the JSON."""
    root = str(request.app.router["overview"].url_for())
    e = html.escape
    nav = "".join(
        f'<a href="{e(root.rstrip("/") + path)}"'
        f"{' aria-current=page' if name == page else ''}>{e(label)}</a>"
        for name, (path, label) in pages.items()
    )
    attrs = "".join(f' data-{e(k)}="{e(v)}"' for k, v in data.items())
    ops = "on" if operations else "off"
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<link rel="stylesheet" href="{e(root)}static/{ASSETS["dashboard.css"].hashed}">
<link rel="icon" href="data:,">
</head><body data-page="{e(page)}" data-root="{e(root)}" data-operations="{ops}"{attrs}>
<header><strong>{e(title)}</strong><nav>{nav}</nav><span id="live" class="live">connecting</span></header>
<main id="main"></main>
<script src="{e(root)}static/{ASSETS["dashboard.js"].hashed}" defer></script>
</body></html>
"""
    return web.Response(text=body, content_type="text/html", charset="utf-8")


class Dashboard:
    """The handlers of one dashboard over one board."""

    def __init__(
        self,
        board: Board,
        namer: Namer,
        *,
        title: str,
        operations: bool,
        pages: dict[str, tuple[str, str]] = PAGES,
    ) -> None:
        self.board, self.namer, self.title, self.operations = board, namer, title, operations
        self.pages = pages

    # --- the HTML shell -----------------------------------------------------------------------

    def shell(self, request: web.Request, page: str, **data: str) -> web.Response:
        """Return the page's HTML shell: navigation, an empty main, the script."""
        return shell(request, page, self.title, self.pages, self.operations, **data)

    async def overview_page(self, request: web.Request) -> web.Response:
        return self.shell(request, "overview")

    async def jobs_page(self, request: web.Request) -> web.Response:
        return self.shell(request, "jobs")

    async def feed_page(self, request: web.Request) -> web.Response:
        return self.shell(request, "feed")

    async def failed_page(self, request: web.Request) -> web.Response:
        return self.shell(request, "failed")

    async def job_page(self, request: web.Request) -> web.Response:
        scope = _scope(request.match_info["scope"])
        job_id = _job_id(request.match_info["job"])
        return self.shell(request, "job", scope=str(scope), job=str(job_id))

    # --- JSON ---------------------------------------------------------------------------------

    def _feed_mark(self) -> dict[str, Any]:
        feed = self.board.feed
        return {"after": feed.cursor(feed.end)}

    async def overview(self, request: web.Request) -> web.Response:
        board = self.board
        board.touch()
        stats = board.poller.statistics()
        policy = board.poller.policy
        since = _int(request.query, "since", 0, 0, 2**53)
        now = board.now()
        failed_hosts, failed_jobs = board.failed_count()
        body = {
            "now": now,
            "run": {
                "started": board.started,
                "ended": board.ended,
                "watches": stats.watches,
                "jobs_watched": stats.instances_watched,
            },
            "jobs": board.buckets,
            "jobs_total": len(board.jobs),
            "jobs_with_failed_hosts": failed_jobs,
            "failed_hosts": failed_hosts,
            "hosts": _counts(board.host_counts),
            "containers": _counts(board.container_counts),
            "series": [list(s) for s in board.series if s[0] > since],
            "last_minute": _last_minute(board, now),
            "transitions_per_second": round(board.transitions_per_second(), 2),
            "poll_rate": round(stats.current_rate, 2),
            "rate_limit": stats.rate_limit,
            "in_flight": stats.in_flight,
            "max_in_flight": policy.max_in_flight,
            "delay": board.percentiles(),
            "requests": stats.requests,
            "unchanged_polls": stats.unchanged_polls,
            "retries": stats.retries,
            "errors": stats.errors,
            "stalled": stats.stalled,
            "failing_jobs": stats.failing_jobs,
            "job_failures": stats.job_failures,
            "server_failures": stats.server_failures,
            "watches": stats.watches,
            "instances_watched": stats.instances_watched,
            "events_observed": stats.events_observed,
            "resyncs": board.resyncs,
            **self._feed_mark(),
        }
        return web.json_response(body)

    def _row(self, row: JobRow) -> dict[str, Any]:
        start, end = self.board.job_times(row)
        return {
            "start": start,
            "end": end,
            "scope": str(row.scope),
            "job": row.job_id,
            "name": self.board.name(row),
            "status": "not ended (job list)"
            if row.status is None and row.listed
            else _status_name(row.status),
            "bucket": row.bucket,
            "ended": row.ended,
            "hosts": row.hosts,
            "containers": row.containers,
            "finished": row.finished,
            "failed": row.failed,
        }

    async def jobs(self, request: web.Request) -> web.Response:
        board, query = self.board, request.query
        board.touch()
        bucket = query.get("status", "")
        if bucket and bucket not in BUCKETS:
            raise web.HTTPBadRequest(text=f"status must be one of {', '.join(BUCKETS)}")
        limit = _int(query, "limit", 50, 1, MAX_PAGE)
        offset = _int(query, "offset", 0, 0, 10**9)
        total, rows = board.query(
            text=query.get("q", "")[:200],
            bucket=bucket,
            sort=query.get("sort", "id"),
            descending=query.get("order", "asc") == "desc",
            offset=offset,
            limit=limit,
        )
        self.namer.want(
            [
                r
                for r in rows
                if board.name(r) is None or (r.bucket in ENDED and board.job_times(r)[1] is None)
            ]
        )
        body = {
            "total": total,
            "offset": offset,
            "limit": limit,
            "rows": [self._row(r) for r in rows],
            "buckets": list(BUCKETS),
        }
        return web.json_response(body)

    async def job(self, request: web.Request) -> web.Response:
        board = self.board
        scope = _scope(request.match_info["scope"])
        job_id = _job_id(request.match_info["job"])
        row = await known(board, scope, job_id)
        mark = self._feed_mark()  # before the request: an event meanwhile comes on the stream
        try:
            status = await board.poller.client.get_job_instance_status(
                scope, job_id, with_hosts=True
            )
        except errors.NotFoundError:
            raise web.HTTPNotFound(text="bk-job has no such job") from None
        except errors.BkJobError as exc:
            return web.json_response(
                {"error": f"bk-job did not answer: {type(exc).__name__}", **mark}, status=502
            )
        board.learn(scope, job_id, status)
        if not status.finished and row.bucket in ENDED:
            # bk-job runs it again (retried elsewhere, say): follow it, so that the jobs
            # table and the overview agree with this page.
            board.follow(scope, job_id)
        return web.json_response(
            {
                "scope": str(scope),
                "job": job_id,
                "bucket": row.bucket,
                "operations": self.operations,
                "start": _ms(status.job.start_time),
                "end": _ms(status.job.end_time),
                "terminable": status.job.status in TERMINABLE,
                **_job_json(status),
                **mark,
            }
        )

    async def failed(self, request: web.Request) -> web.Response:
        """``GET api/failed``: failed hosts across jobs, newest first (``job``, ``error``:
        filters; ``offset``, ``limit``: the page)."""
        board, query = self.board, request.query
        board.touch()
        limit = _int(query, "limit", 50, 1, MAX_PAGE)
        offset = _int(query, "offset", 0, 0, 10**9)
        total, rows, errors_seen = board.failed_hosts(
            job=query.get("job", "")[:200],
            error=query.get("error", "")[:200],
            offset=offset,
            limit=limit,
        )
        # Those that failed before the board looked: why, asked of bk-job (a few jobs at once).
        self.namer.want({id(f.job): f.job for f in rows if f.at is None}.values(), hosts=True)
        body = {
            "total": total,
            "offset": offset,
            "limit": limit,
            "rows": [{**f.json(), "name": board.name(f.job)} for f in rows],
            "errors": [{"error": e, "hosts": n} for e, n in errors_seen],
        }
        return web.json_response(body)

    async def log(self, request: web.Request) -> web.Response:
        board = self.board
        scope = _scope(request.match_info["scope"])
        job_id = _job_id(request.match_info["job"])
        await known(board, scope, job_id)
        step = _int(request.query, "step", 0, 0, 2**63 - 1)
        if "container" in request.query:
            return await self._container_log(scope, job_id, step, request.query["container"])
        host = host_from_text(request.query.get("host", ""))
        ref: int | Host = host.bk_host_id if host.bk_host_id is not None else host
        try:
            log = await board.poller.client.get_job_instance_ip_log(scope, job_id, step, ref)
        except errors.UnsupportedOperationError:
            return web.json_response({"error": "this API generation has no log API"}, status=501)
        except errors.BkJobError as exc:
            return web.json_response(
                {"error": f"bk-job did not answer: {type(exc).__name__}"}, status=502
            )
        return _tail(log.log_content, log.file_logs, host=str(log.host))

    async def _container_log(
        self, scope: Scope, job_id: int, step: int, container: str
    ) -> web.Response:
        """Answer a container's log (``?container=`` its ``Container.id``; gateway v4)."""
        if not container.isdigit() or len(container) > 19:
            raise web.HTTPBadRequest(text="container must be a container's id")
        try:
            logs = await self.board.poller.client.batch_get_job_instance_execute_object_log(
                scope, job_id, step, container_ids=[int(container)]
            )
        except errors.UnsupportedOperationError:
            return web.json_response({"error": "containers need the gateway v4"}, status=501)
        except errors.BkJobError as exc:
            return web.json_response(
                {"error": f"bk-job did not answer: {type(exc).__name__}"}, status=502
            )
        if not logs:
            return _tail(None, None, container=f"container {container}")
        log = logs[0]
        return _tail(log.log_content, log.file_logs, container=str(log.execute_object))


def _tail(content: str | None, files: Sequence[object] | None, **who: str) -> web.Response:
    """Answer the end of a log (its content, then its files' lines) and whose it is."""
    text = content or ""
    if files:
        text += "\n".join(str(f) for f in files)
    return web.json_response({"tail": text[-LOG_TAIL:], "cut": len(text) > LOG_TAIL, **who})


def _ms(at: Any) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def _last_minute(board: Board, now: int) -> dict[str, Any]:
    """Return what changed in the last minute: counts, and the jobs' changes (newest first)."""
    since = now - 60_000
    recent = [s for s in board.series if s[0] > since]
    changes = [c for c in reversed(board.changes) if c[0] > since]
    ends = [c for c in changes if c[3] in _ENDS]
    return {
        "transitions": sum(s[1] for s in recent),
        "polls": sum(s[2] for s in recent),
        "failures": sum(s[3] for s in recent),
        "jobs_changed": len({c[1] for c in changes}),
        "jobs_ended": len(ends),
        "jobs_failed": sum(1 for c in ends if c[3] not in _SUCCESSES),
        "changes": [
            {"at": at, "job": job, "previous": previous, "current": current}
            for at, job, previous, current in changes[:15]
        ],
    }


_ENDS = frozenset(s.name for s in JobStatus if s.is_finished) | {"timed out"}
_SUCCESSES = frozenset(s.name for s in JobStatus if s.is_success)


def _counts(counts: dict[HostStatus, int]) -> dict[str, int]:
    """Return hosts' (or containers') counts by status name, those of none left out."""
    return {s.name: n for s, n in sorted(counts.items()) if n > 0 and hasattr(s, "name")}


async def known(board: Board, scope: Scope, job_id: int) -> JobRow:
    """Return the board's row of a job, or answer 404: the dashboard shows (and asks bk-job
    about) only the jobs its poller watches or remembers, never any job of the scope.

    A job a watch took a moment ago may not be on the board yet: it is waited for a little.
    """
    board.touch()
    for _ in range(_JOIN_WAIT):
        row = board.row(scope, job_id)
        if row is not None:
            return row
        await asyncio.sleep(board.tick)
        board.touch()
    raise web.HTTPNotFound(text="this dashboard's poller does not watch that job")


def _object_json(
    kind: str, key: str, label: str, status: HostStatus, exit_code: int | None, error: int | None
) -> dict[str, Any]:
    """Return a host's or a container's row of a job's page (``kind``: ``host``, ``container``)."""
    return {
        kind: key,
        "label": label,
        "status": int(status),
        "status_name": getattr(status, "name", str(int(status))),
        "state": host_state(status),
        "exit_code": exit_code,
        "error_code": error,
        "failed": status.is_finished and not status.is_success,
    }


def _host_json(step: StepInstance) -> list[dict[str, Any]]:
    return [
        _object_json(
            "host", host_text(r.host.key), str(r.host), r.status, r.exit_code, r.error_code
        )
        for r in step.hosts or ()
    ]


def _container_json(step: StepInstance) -> list[dict[str, Any]]:
    return [
        _object_json(
            "container", str(r.container.id), str(r.container), r.status, r.exit_code, None
        )
        for r in step.containers or ()
    ]


def _job_json(status: JobInstanceStatus) -> dict[str, Any]:
    job = status.job
    return {
        "name": job.name,
        "status": job.status.name,
        "finished": status.finished,
        "steps": [
            {
                "step": s.step_instance_id,
                "name": s.name,
                "status": s.status.name,
                "execute_count": s.execute_count,
                "start": _ms(s.start_time),
                "end": _ms(s.end_time),
                "actions": [a for a, (_, when) in STEP_ACTIONS.items() if s.status in when],
                "hint": _hint(job.job_instance_id, s),
                "hosts": _host_json(s),
                "containers": _container_json(s),
            }
            for s in status.steps
        ],
    }


def _hint(job_id: int, step: StepInstance) -> str | None:
    """Return what a person can do for a step that waits for one (as the CLI's live view)."""
    if step.status is JobStatus.WAITING_USER:
        return (
            "waits for a person: confirm to go on, refuse to end the job here (or "
            f"bkjob-async operate {job_id} {step.step_instance_id} confirm)"
        )
    if step.status is JobStatus.STOPPING:
        return "stopping: skip it to end it now"
    return None
