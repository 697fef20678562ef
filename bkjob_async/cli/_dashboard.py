"""Rule: ``dashboard`` imports ``bkjob_async.web`` only when it runs, and is read-only by default.

``bkjob-async dashboard``: a watch of its own (or a cluster), shown in the browser until Ctrl-C.

Rule: the command imports ``bkjob_async.web`` (and the simulator) only when it runs (the
parser takes the names of its variables from here). It serves on 127.0.0.1 unless ``--bind``
says otherwise, read-only unless ``--allow-operations`` with a token from
``$BKJOB_DASHBOARD_TOKEN`` or ``--token-file`` (never from the command line, which others can
read in the process list, and never printed). ``--redis URL --cluster NAME`` shows a cluster
instead (read only): its workers, leases, watches, lag and dead letters. It answers only the
host names it is reached by (``--allow-host``; loopback's by default), and with ``--login
basic`` (``$BKJOB_DASHBOARD_USER``, ``$BKJOB_DASHBOARD_PASSWORD``) or ``--login-header NAME``
(a reverse proxy's) only logged-in users; served beyond loopback without a login, it warns.
"""

from __future__ import annotations

import contextlib
import ipaddress
import pathlib
import socket
from typing import TYPE_CHECKING, Any

import anyio

from ._runtime import EXIT_OK, CliError, Context

if TYPE_CHECKING:
    import argparse
    from collections.abc import AsyncIterator

    from aiohttp import web

    from ..cluster import Cluster
    from ..polling import Poller

__all__ = ["run_dashboard", "serve_dashboard"]

TOKEN_ENV = "BKJOB_DASHBOARD_TOKEN"
USER_ENV = "BKJOB_DASHBOARD_USER"
PASSWORD_ENV = "BKJOB_DASHBOARD_PASSWORD"


def _token(ctx: Context, args: argparse.Namespace) -> str | None:
    if not args.allow_operations:
        if args.token_file is not None:
            raise CliError("--token-file is for --allow-operations")
        return None
    if args.token_file is not None:
        try:
            token = pathlib.Path(args.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CliError(f"--token-file: cannot read it: {exc.strerror}") from None
    else:
        token = ctx.env.get(TOKEN_ENV, "").strip()
    if len(token) < 16:
        raise CliError(
            f"--allow-operations needs a token of 16 characters or more, in ${TOKEN_ENV} or "
            "--token-file (e.g. export BKJOB_DASHBOARD_TOKEN=$(openssl rand -hex 16))"
        )
    return token


def _login(ctx: Context, args: argparse.Namespace) -> Any:
    """Return the login the options ask for (``None``: none)."""
    from ..web import BasicLogin, HeaderLogin

    if args.login is not None and args.login_header is not None:
        raise CliError("--login basic or --login-header, not both")
    if args.trusted_proxy and args.login_header is None:
        raise CliError("--trusted-proxy is for --login-header")
    if args.login == "basic":
        user, password = ctx.env.get(USER_ENV, ""), ctx.env.get(PASSWORD_ENV, "")
        if not user or not password or ":" in user:
            raise CliError(f"--login basic needs ${USER_ENV} (no ':') and ${PASSWORD_ENV} set")
        return BasicLogin({user: password})
    if args.login_header is not None:
        try:
            return HeaderLogin(
                args.login_header, trusted=args.trusted_proxy or ("127.0.0.1", "::1")
            )
        except ValueError as exc:
            raise CliError(f"--login-header/--trusted-proxy: {exc}") from None
    return None


def _loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


def _hosts(args: argparse.Namespace) -> list[str]:
    """Return the host names the dashboard answers (``--allow-host``, or what ``--bind``
    makes likely)."""
    from ..web import LOOPBACK_HOSTS

    if args.allow_host:
        return [*LOOPBACK_HOSTS, *args.allow_host]
    hosts = list(LOOPBACK_HOSTS)
    if not _loopback(args.bind):
        if args.bind not in ("0.0.0.0", "::", ""):
            hosts.append(args.bind)
        hosts += [socket.gethostname(), socket.getfqdn()]
    return list(dict.fromkeys(hosts))


def _check(args: argparse.Namespace) -> None:
    """Refuse a mix of modes (the numbers' ranges are their parser types': ``_numbers``)."""
    if _shows_cluster(args):
        if args.simulate or args.job_ids or args.allow_operations:
            raise CliError(
                "--redis/--cluster show a cluster (read only): no JOB_ID, --simulate or "
                "--allow-operations with them"
            )
    elif args.simulate == bool(args.job_ids):
        raise CliError("give the JOB_IDs to watch, or --simulate (not both)")


def _shows_cluster(args: argparse.Namespace) -> bool:
    return args.redis is not None or args.cluster is not None


@contextlib.asynccontextmanager
async def serve_dashboard(
    ctx: Context,
    source: Poller | Cluster,
    *,
    bind: str = "127.0.0.1",
    port: int = 0,
    allow_operations: bool = False,
    token: str | None = None,
    allowed_hosts: list[str] | None = None,
    login: Any = None,
) -> AsyncIterator[str]:
    """Serve the dashboard of ``source`` (a poller or a cluster) while the body runs; yield
    its URL."""
    from aiohttp import web

    from ..web import LOOPBACK_HOSTS, dashboard_app

    hosts = allowed_hosts or list(LOOPBACK_HOSTS)
    try:
        if allow_operations:
            app = dashboard_app(
                source,
                allow_operations=allow_operations,
                token=token,
                allowed_hosts=hosts,
                login=login,
            )
        else:
            app = dashboard_app(source, allowed_hosts=hosts, login=login)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not _loopback(bind) and login is None:
        ctx.err(
            f"warning: the dashboard listens on {bind} with no login: anyone who reaches it "
            "sees your jobs and their hosts' logs. Add --login basic or --login-header NAME "
            "(a reverse proxy's login), or keep it on 127.0.0.1 behind your own proxy."
        )
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, bind, port)
        try:
            await site.start()
        except OSError as exc:
            raise CliError(f"cannot listen on {bind}:{port}: {exc.strerror}") from None
        host, bound = _address(runner)
        yield f"http://{host}:{bound}/"
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()


def _address(runner: web.AppRunner) -> tuple[str, int]:
    address = runner.addresses[0]
    host = str(address[0])
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # (a URL that works here)
    if ":" in host:
        host = f"[{host}]"
    return host, int(address[1])


async def run_dashboard(ctx: Context, args: argparse.Namespace) -> int:
    """Watch the jobs and serve their dashboard until Ctrl-C; exit 0."""
    _check(args)
    token = _token(ctx, args)
    args.login_check = _login(ctx, args)
    if _shows_cluster(args):
        return await _cluster_board(ctx, args)
    if args.simulate:
        return await _simulated(ctx, args, token)
    return await _real(ctx, args, token)


async def _cluster_board(ctx: Context, args: argparse.Namespace) -> int:
    from ._cluster import _cluster as open_cluster

    cluster = open_cluster(args, ctx)
    async with (
        cluster,
        serve_dashboard(
            ctx,
            cluster,
            bind=args.bind,
            port=args.port,
            allowed_hosts=_hosts(args),
            login=args.login_check,
        ) as url,
    ):
        await _until_interrupted(ctx, url, f"cluster {cluster.name!r}")
    return EXIT_OK


async def _until_interrupted(ctx: Context, url: str, what: str) -> None:
    ctx.err(f"dashboard of {what} at {url} (Ctrl-C to stop)")
    await ctx.interrupt.wait()


async def _simulated(ctx: Context, args: argparse.Namespace, token: str | None) -> int:
    from ..client import BkJobClient
    from ..config import Scope
    from ..polling import Poller, PollPolicy
    from ..testing import BkJobSimulator, StepPlan

    scope = Scope.biz(2)
    sim = BkJobSimulator(host_duration=(2.0, 40.0), host_start_delay=(0.0, 5.0), fail_rate=0.002)
    async with sim:
        names = ("deploy web", "rotate logs", "patch kernel", "restart cache")
        ids = [
            sim.create_job(
                scope,
                [StepPlan(hosts=args.hosts, name="prepare"), StepPlan(hosts=args.hosts)],
                name=f"{names[n % len(names)]} #{n}",
            )
            for n in range(args.jobs)
        ]
        async with (
            BkJobClient(sim.url, app_code="demo", app_secret="demo-only", username="admin") as c,
            Poller(c, policy=PollPolicy(interval=0.5, max_interval=4.0)) as poller,
            poller.watch_jobs(scope, ids) as watch,
        ):
            await _serve(ctx, args, token, poller, watch, f"{len(ids):,} simulated jobs")
    return EXIT_OK


async def _real(ctx: Context, args: argparse.Namespace, token: str | None) -> int:
    from ..polling import Poller
    from ._connect import connection, open_client, policy_from

    target, credentials = connection(args, ctx.env)
    policy = policy_from(args, args.max_in_flight)
    ids = list(dict.fromkeys(args.job_ids))
    async with (
        open_client(target, credentials) as client,
        Poller(client, policy=policy) as poller,
        poller.watch_jobs(target.scope, ids) as watch,
    ):
        await _serve(ctx, args, token, poller, watch, f"{len(ids):,} jobs on {target.server}")
    return EXIT_OK


async def _serve(
    ctx: Context, args: argparse.Namespace, token: str | None, poller: Poller, watch: Any, what: str
) -> None:
    """Serve the dashboard of ``poller`` until Ctrl-C, reading ``watch`` meanwhile."""
    async with (
        serve_dashboard(
            ctx,
            poller,
            bind=args.bind,
            port=args.port,
            allow_operations=args.allow_operations,
            token=token,
            allowed_hosts=_hosts(args),
            login=args.login_check,
        ) as url,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(_drain, watch)
        await _until_interrupted(ctx, url, what)
        tg.cancel_scope.cancel()


async def _drain(watch: Any) -> None:
    """Read the watch (the dashboard reads the poller; the watch only keeps jobs polled)."""
    async for _ in watch:
        pass
