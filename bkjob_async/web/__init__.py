"""A live web dashboard of a running ``Poller``: an ``aiohttp.web`` application, no other framework.

``dashboard_app(poller)`` returns an ``aiohttp.web.Application``: serve it on its own, or mount
it in your own aiohttp app under a prefix (``app.add_subapp("/jobs-dashboard/", ...)``) behind
your own authentication. It shows an overview (jobs and hosts by status, transitions a second,
the poll rate against its budget, the delay from a change to its event, errors and retries), a
jobs table filtered, sorted and paged on the server, a page per job (steps, hosts by status,
failed hosts with their exit codes and log tails) and a live feed of transitions over
server-sent events that resumes from ``Last-Event-ID``. ``dashboard_app(cluster)`` shows a
``bkjob_async.cluster.Cluster`` instead (its workers, partitions and leases, watches, consumer
groups' lag, dead letters; read only), and ``dashboard_app(poller, cluster=cluster)`` both.

It costs the poller nothing while nobody looks: it reads the poller through ``Poller.tap``,
opened by the first viewer and closed a little after the last one left (what it showed stays:
whoever comes after the run reads its end, its totals and its latest transitions). It is
read-only unless made with ``allow_operations=True`` and a token (then a job can be
terminated, its failed hosts retried, a step waiting for a person confirmed or refused, a
stopping one skipped). It answers only its ``allowed_hosts`` (loopback by default) and, with
a ``login`` (``BasicLogin``, ``HeaderLogin`` or your own check), only logged-in users. Every
asset ships in the package; every page carries a strict Content-Security-Policy, and every
string from bk-job is shown as text.

Rule: this package imports aiohttp's server and the poller's public API; nothing below it
imports this package (the CLI does, only for ``bkjob-async dashboard`` and the demo).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import errors
from ..models import JobOperation, JobStatus, StepOperation
from ..polling import Poller
from ._board import BOARD, Board
from ._names import NAMER, Namer
from ._safety import (
    LOOPBACK_HOSTS,
    USER,
    BasicLogin,
    HeaderLogin,
    Login,
    check_hosts,
    check_operation,
    check_token,
    guard,
    secure_headers,
)
from ._static import ASSETS, serve_static
from ._stream import stream
from ._views import CLUSTER_PAGE, PAGES, STEP_ACTIONS, Dashboard, _job_id, _scope, known, shell

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..cluster import Cluster
    from ..config import Scope

__all__ = ["LOOPBACK_HOSTS", "BasicLogin", "HeaderLogin", "Login", "dashboard_app"]

logger = logging.getLogger("bkjob_async.web")


def dashboard_app(
    source: Poller | Cluster,
    *,
    cluster: Cluster | None = None,
    allow_operations: bool = False,
    token: str | None = None,
    title: str = "bkjob-async dashboard",
    grace: float = 10.0,
    allowed_hosts: Iterable[str] = LOOPBACK_HOSTS,
    login: Login | None = None,
) -> web.Application:
    """Return the dashboard of a running ``source`` poller, as an ``aiohttp.web.Application``.

    Serve it with ``aiohttp.web`` on the poller's event loop (``web.AppRunner``), or mount it:
    ``app.add_subapp("/dashboard/", dashboard_app(poller))``. Its links are relative to where
    it is mounted. ``grace``: seconds the dashboard keeps reading the poller after its last
    viewer left (a reconnecting browser resumes its feed within it).

    ``source`` may be a ``bkjob_async.cluster.Cluster`` instead: the dashboard is then its
    cluster page alone (read only). With a poller, ``cluster`` adds that page (a worker's
    poller and its cluster, say). The dashboard does not close the cluster: its owner does.

    :param allow_operations: let the page terminate a job, retry its failed hosts, confirm,
        refuse or skip a step; each such request must carry ``token`` in its
        ``X-Dashboard-Token`` header.
    :param allowed_hosts: the host names (``Host``) it answers: loopback by default; add the
        names people reach it by (``"dash.example.com"``, ``".example.com"`` for a domain
        and its subdomains, ``"*"`` for any). Any other name is refused (DNS rebinding).
    :param login: who may look: ``await login(request)`` returns the user's name, or
        ``None`` to refuse (401; ``BasicLogin``'s asks the browser for a password). With it
        no page, asset or API answers without a login.
    :raises TypeError: ``source`` is not a ``Poller`` or a ``Cluster``, or ``cluster`` not a
        ``Cluster``.
    :raises ValueError: operations without a token of 16 characters or more, or a token
        without operations; operations on a cluster's own dashboard; an empty or malformed
        ``allowed_hosts``.
    """
    hosts = check_hosts(allowed_hosts)
    if not isinstance(source, Poller):
        _check_cluster(source, "source must be a Poller or a Cluster")
        if allow_operations or token is not None:
            raise ValueError("a cluster's dashboard is read only: no operations, no token")
        return _cluster_app(source, title, hosts, login)
    if cluster is not None:
        _check_cluster(cluster, "cluster must be a Cluster")
    check_token(allow_operations, token)
    if grace < 0:
        raise ValueError("grace cannot be negative")
    board = Board(source, grace=grace)
    app = web.Application(middlewares=[guard(hosts, login)])
    app[BOARD] = board
    app[NAMER] = namer = Namer(board)
    pages = PAGES if cluster is None else {**PAGES, "cluster": CLUSTER_PAGE}
    views = Dashboard(board, namer, title=title, operations=allow_operations, pages=pages)
    operate = _operations(board, token if allow_operations else None)
    app.router.add_get("/", views.overview_page, name="overview")
    app.router.add_get("/jobs", views.jobs_page, name="jobs")
    app.router.add_get("/feed", views.feed_page, name="feed")
    app.router.add_get("/failed", views.failed_page, name="failed")
    app.router.add_get("/job/{scope}/{job}", views.job_page, name="job")
    app.router.add_get("/api/overview", views.overview)
    app.router.add_get("/api/jobs", views.jobs)
    app.router.add_get("/api/job/{scope}/{job}", views.job)
    app.router.add_get("/api/job/{scope}/{job}/log", views.log)
    app.router.add_get("/api/failed", views.failed)
    app.router.add_post("/api/job/{scope}/{job}/{action}", operate)
    app.router.add_get("/api/stream", stream)
    if cluster is not None:
        _add_cluster(app, cluster, CLUSTER_PAGE[0], lambda r: views.shell(r, "cluster"))
    app.router.add_get("/static/{name}", serve_static(ASSETS), name="static")
    app.on_response_prepare.append(secure_headers)
    app.on_startup.append(_begin)
    app.on_shutdown.append(_stop)
    app.on_cleanup.append(_close)
    return app


def _check_cluster(value: object, message: str) -> None:
    try:
        from ..cluster import Cluster
    except ImportError:  # (no ``redis`` extra: it cannot be one)
        raise TypeError(f"{message}, not {type(value).__name__}") from None
    if not isinstance(value, Cluster):
        raise TypeError(f"{message}, not {type(value).__name__}")


def _add_cluster(app: web.Application, cluster: Cluster, path: str, page: Any) -> None:
    from ._cluster import ClusterPage

    views = ClusterPage(cluster)

    async def handler(request: web.Request) -> web.StreamResponse:
        response: web.StreamResponse = page(request)
        return response

    app.router.add_get(path, handler, name="overview" if path == "/" else "cluster")
    app.router.add_get("/api/cluster", views.status)
    app.router.add_get("/api/cluster/dead-letters", views.dead_letters)


def _cluster_app(
    cluster: Cluster, title: str, hosts: tuple[str, ...], login: Login | None
) -> web.Application:
    """Return a cluster's own dashboard: its cluster page alone, at the root."""
    app = web.Application(middlewares=[guard(hosts, login)])
    pages = {"overview": ("/", "Cluster")}
    _add_cluster(app, cluster, "/", lambda r: shell(r, "cluster", title, pages))
    app.router.add_get("/static/{name}", serve_static(ASSETS), name="static")
    app.on_response_prepare.append(secure_headers)
    return app


async def _begin(app: web.Application) -> None:
    board = app[BOARD]
    try:
        board.remember(await board.poller.history())
    except errors.BkJobError as exc:  # (a store that cannot be read: the board starts empty)
        logger.warning("dashboard: the store's history cannot be read: %s", exc)
    board.start_monitor()


async def _stop(app: web.Application) -> None:
    board = app[BOARD]
    board.stopping = True
    board.wake()


async def _close(app: web.Application) -> None:
    await app[NAMER].aclose()
    await app[BOARD].aclose()


def _operations(board: Board, token: str | None) -> Any:
    """Return the handler of ``POST api/job/{scope}/{job}/{action}`` (JSON; ``{"step": N}``
    names the step of a step's action, else the first step it is allowed on)."""

    async def operate(request: web.Request) -> web.Response:
        check_operation(request, token)
        scope = _scope(request.match_info["scope"])
        job_id = _job_id(request.match_info["job"])
        await known(board, scope, job_id)
        action = request.match_info["action"]
        if action not in STEP_ACTIONS and action not in ("terminate", "retry-failed"):
            raise web.HTTPNotFound(text="no such operation")
        step = await _step_asked(request)
        try:
            done = await _operate(board, scope, job_id, action, step)
        except errors.OperationNotAllowedError as exc:
            return web.json_response({"error": f"bk-job refused: {exc}"}, status=409)
        except errors.BkJobError as exc:
            return web.json_response(
                {"error": f"bk-job did not answer: {type(exc).__name__}"}, status=502
            )
        if "error" in done:
            return web.json_response(done, status=409)
        logger.info(
            "dashboard: %s on job %s (by %s)",
            action,
            job_id,
            request.get(USER, "the token's holder"),
        )
        board.follow(scope, job_id)  # its table row and the overview follow what comes next
        return web.json_response(done)

    return operate


async def _step_asked(request: web.Request) -> int | None:
    try:
        body = json.loads(await request.text() or "{}")
    except ValueError:
        raise web.HTTPBadRequest(text="send a JSON object") from None
    step = body.get("step") if isinstance(body, dict) else None
    if step is not None and (type(step) is not int or step < 0):
        raise web.HTTPBadRequest(text="step must be a step_instance_id")
    return step


async def _operate(
    board: Board, scope: Scope, job_id: int, action: str, step: int | None
) -> dict[str, Any]:
    """Do one operation; return what the page is told."""
    client = board.poller.client
    if action == "terminate":
        await client.operate_job_instance(scope, job_id, JobOperation.TERMINATE)
        return {"done": "terminate", "job": job_id}
    status = await client.get_job_instance_status(scope, job_id)
    if action == "retry-failed":
        steps = [s.step_instance_id for s in status.steps if s.status is JobStatus.FAIL]
        if not steps:
            return {"error": "no failed step to retry"}
        for failed in steps:
            await client.operate_step_instance(scope, job_id, failed, StepOperation.RETRY_FAILED)
        return {"done": "retry-failed", "steps": steps}
    operation, when = STEP_ACTIONS[action]
    allowed = [s.step_instance_id for s in status.steps if s.status in when]
    if step is None and allowed:
        step = allowed[0]
    if step is None or step not in allowed:
        return {"error": f"no step of this job can be told to {action} now"}
    await client.operate_step_instance(scope, job_id, step, operation)
    return {"done": action, "steps": [step]}
