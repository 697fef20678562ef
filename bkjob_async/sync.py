"""Blocking calls for sync code: the async client and poller, run on one loop thread per process.

For Django views, Celery tasks, management commands and scripts::

    from bkjob_async import Account, Scope, Targets
    from bkjob_async.sync import BkJobClient, Poller

    scope, targets = Scope.biz(2), Targets(host_ids=[1001])
    with BkJobClient(url, app_code="app", app_secret=secret, username="admin") as client:
        launch = client.fast_execute_script(
            scope, targets=targets, account=Account(alias="root"), script_content="echo hi"
        )
        with Poller(client) as poller:
            status = poller.wait_finished(scope, launch.job_instance_id, timeout=600)

There is one implementation: every method (written by ``scripts/gen_facades.py`` from the
async client's, with its parameters and docstring) runs the async one (``bkjob_async.BkJobClient``,
``bkjob_async.Poller``) on an event loop in a thread of its own (anyio's blocking portal), and
blocks only the calling thread until it is done. One loop thread serves every sync client of
the process, started with the first and stopped after the last is closed; each client's
aiohttp session lives in that loop, so its connection pool is shared by every thread that
uses the client. After ``fork`` (Celery's prefork pool, gunicorn ``--preload``) a client made
in the parent starts a loop and a session of its own in the child on first use; a ``Poller``
does not cross a fork (make it in the child).

Waits take ``timeout=`` (seconds; ``TimeoutError`` when it passes). An exception raised in
the calling thread while it waits (``KeyboardInterrupt``, Celery's ``SoftTimeLimitExceeded``)
cancels the work underneath and leaves the client usable. Calling the sync API from a thread
that runs an event loop (an ``async def`` Django view) raises ``RuntimeError`` at once: use
the async API there.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import os
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import anyio
from anyio import CancelScope, WouldBlock
from anyio.from_thread import BlockingPortal, BlockingPortalProvider

from . import client as _client
from . import compat as _compat
from .compat import Compat
from .polling import poller as _poller
from .polling._summary import FailedContainer, FailedHost, Told, WatchSummary
from .polling._summary import failed_containers as _failed_containers
from .polling._summary import failed_hosts as _failed_hosts
from .polling.checks import Check, JobChecks
from .polling.checks import check_job as _check_job
from .polling.checks import check_jobs as _check_jobs
from .polling.logs import LogText
from .polling.logs import follow_logs as _follow_logs
from .polling.rollout_checks import RolloutCheck
from .polling.rollout_checks import check_rollout as _check_rollout

if TYPE_CHECKING:
    from ._protocol import Request
    from .config import ApiFlavor, Scope
    from .models import Host, JobInstanceStatus
    from .polling._launch import Launch
    from .polling._watch import Completed as AsyncCompleted
    from .polling._watch import Watch as AsyncWatch
    from .polling.callbacks import Callback
    from .polling.events import Event, JobFinished
    from .polling.poller import PollerStatistics
    from .polling.rollouts import Rollout as AsyncRollout
    from .polling.rollouts import RolloutStatistics

# --- generated imports (scripts/gen_facades.py, `make facades`): do not edit ---
from .models import AccountCategory, ScriptLanguage
from .models.files import FileSourceType

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Sequence
    from typing import Literal

    from ._params import HostRef
    from .models import (
        AccountPage,
        AccountType,
        AuthorizedScopePage,
        CreatedJobPlan,
        CronJob,
        CronPage,
        CronStatus,
        DangerousRule,
        DangerousRuleAction,
        DangerousRuleState,
        ExecuteObjectLog,
        ExecutionAccount,
        FileLogMode,
        HostLog,
        HostStatus,
        JobInstancePage,
        JobInstanceSummary,
        JobLaunch,
        JobOperation,
        JobPlan,
        JobPlanPage,
        JobResult,
        JobTemplate,
        JobTemplateDetail,
        JobVariables,
        LaunchMode,
        Script,
        ScriptCheckItem,
        ScriptPage,
        ScriptVersion,
        ScriptVersionPage,
        ScriptVersionState,
        StepInstanceStatus,
        StepLog,
        StepOperation,
        TaskContext,
        TaskType,
    )
    from .models.files import CredentialDetail, CredentialSecret, FileSourceDetail, UploadUrls
    from .models.requests import Account, ConfigFile, FileSource, GlobalVar, RollingConfig, Targets
    from .models.settings import NotifyPolicy, PasswordEncryption
    from .models.templates import JobTemplatePage, StepDetail
# --- end of generated imports ---
from .models.enums import DEFAULT_SUCCESS, JobStatus

__all__ = [
    "BkJobClient",
    "Completed",
    "Poller",
    "Rollout",
    "Watch",
    "check_job",
    "check_jobs",
    "check_rollout",
    "failed_containers",
    "failed_hosts",
]

P = ParamSpec("P")
T = TypeVar("T")
E = TypeVar("E")

_IN_A_LOOP = (
    "the sync API of bkjob_async was called from a thread that runs an event loop, where it "
    "would block the loop: there use the async API (bkjob_async.BkJobClient, "
    "bkjob_async.Poller) with await"
)


class _Loop:
    """The process's loop thread: one portal, leased by each client in use, made again after
    a fork (a child has the parent's memory but not its threads), stopped at exit."""

    def __init__(self) -> None:
        #: A parent's providers, kept from the garbage collector in a child: collected, one
        #: would wait forever for its loop thread to stop (that thread is not in the child).
        self._parents: list[object] = []
        self.provider = BlockingPortalProvider()
        self.pid, self.leases = os.getpid(), 0
        #: Sync pollers made in this process and not closed: closed at exit (the loop thread
        #: would wait for their polling forever).
        self.pollers: set[Poller] = set()
        self._hooked = False
        self._hook_lock = threading.Lock()

    def hook(self) -> None:
        """Register the fork and exit hooks, once: at the first sync client, not at import."""
        with self._hook_lock:
            if self._hooked:
                return
            self._hooked = True
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self.after_fork)
        atexit.register(self.stop)

    def keep(self, thing: object) -> None:
        """Keep ``thing`` (a parent's, tied to its loop) from the garbage collector: collected
        in a child, it would warn about, or try to close, what is the parent's."""
        self._parents.append(thing)

    def after_fork(self) -> None:
        self._parents.append(self.provider)
        self.provider = BlockingPortalProvider()
        self.pid, self.leases = os.getpid(), 0
        self.pollers = set()  # (the parent's, polling in the parent's loop thread)

    def lease(self) -> BlockingPortal:
        if os.getpid() != self.pid:  # (forked where os.register_at_fork is missing)
            self.after_fork()
        portal = self.provider.__enter__()
        self.leases += 1
        return portal

    def release(self) -> None:
        self.leases -= 1
        self.provider.__exit__(None, None, None)

    def stop(self) -> None:
        """At exit: close the pollers and stop the loop of clients never closed (while its
        thread still runs)."""
        if os.getpid() != self.pid:
            return
        for poller in list(self.pollers):
            poller.close()
        while self.leases > 0:
            self.release()


_LOOP = _Loop()


def _refuse_in_a_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(_IN_A_LOOP)


def _wait(
    portal: BlockingPortal, fn: Callable[..., Any], *args: Any, timeout: float | None = None
) -> Any:
    """Run ``fn(*args)`` (async or not) in the loop; wait at most ``timeout`` seconds for it.

    Whatever ends the wait early in this thread (the timeout, ``KeyboardInterrupt``, a
    Celery time limit) cancels the work in the loop before it propagates.
    """
    if timeout is not None and not timeout >= 0:
        raise ValueError(f"timeout must be a number of seconds >= 0 or None, got {timeout!r}")
    work = _Work(fn, args)
    try:
        # (It waits for the loop to take the task: an interrupt there leaves no future to
        # cancel, and the work would go on in the loop; ``work.cancel()`` reaches it anyway.)
        future = portal.start_task_soon(work.run)
        try:
            return future.result(timeout)
        except (TimeoutError, concurrent.futures.TimeoutError):
            if not future.cancel() and future.done():
                return future.result()  # (it finished as the wait ended)
            raise TimeoutError(f"not done within {timeout} s (cancelled)") from None
    except BaseException:
        work.cancel()
        raise


class _Work:
    """One call's work in the loop, which the calling thread can cancel at any moment: before
    the loop has started it, or while it runs."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._fn, self._args = fn, args
        self._lock = threading.Lock()
        self._cancelled = False
        self._cancel: Callable[[], object] | None = None

    def cancel(self) -> None:
        """Cancel it, from any thread: now if it runs, at its start if it has not started."""
        with self._lock:
            self._cancelled, cancel = True, self._cancel
        if cancel is not None:
            with contextlib.suppress(RuntimeError):  # (the loop has stopped: nothing runs)
                cancel()

    async def run(self) -> Any:
        loop = asyncio.get_running_loop()
        with CancelScope() as scope:
            with self._lock:
                if self._cancelled:
                    return None
                self._cancel = functools.partial(loop.call_soon_threadsafe, scope.cancel)
            result = self._fn(*self._args)
            return await result if isinstance(result, Awaitable) else result
        return None  # (cancelled: the caller has stopped waiting)


def _arguments_of(
    init: Callable[Concatenate[_client.BkJobClient, P], None],
) -> Callable[[Callable[..., None]], Callable[Concatenate[BkJobClient, P], None]]:
    """Give the sync client's constructor the async one's parameters, for type checkers and
    ``inspect.signature``: one list of them, written once (in ``client.py``)."""

    def typed(mine: Callable[..., None]) -> Callable[Concatenate[BkJobClient, P], None]:
        return functools.update_wrapper(mine, init, assigned=())

    return typed


@_client._hinted
class BkJobClient:
    """A blocking ``bkjob_async.BkJobClient``: the same arguments, methods, returns and errors.

    Use it as ``with BkJobClient(...) as client:``, or keep one for the life of the process
    (a Django module, a Celery worker) and ``close()`` it at exit. It is safe to share
    between threads; each call blocks only its own thread. Its arguments are checked here,
    in the calling thread, before any loop starts.
    """

    @_arguments_of(_client.BkJobClient.__init__)
    def __init__(self, base_url: str, **kwargs: Any) -> None:
        _refuse_in_a_loop()
        self._args = (base_url, kwargs)
        checked = _client.BkJobClient(base_url, **kwargs)  # (owns nothing until used)
        _LOOP.hook()
        self.protocol = checked.protocol
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._portal: BlockingPortal | None = None
        self._async: _client.BkJobClient | None = None
        self._closed = False
        self._pollers: weakref.WeakSet[Poller] = weakref.WeakSet()
        #: A loop of its own (``on_loop``), else the process's shared one.
        self._provider: BlockingPortalProvider | None = None

    @classmethod
    def on_loop(
        cls, loop_factory: Callable[[], asyncio.AbstractEventLoop], base_url: str, **kwargs: Any
    ) -> BkJobClient:
        """Return a client on a loop of its own, ``loop_factory()``, in a thread of its own.

        For tests: ``BkJobClient.on_loop(VirtualTimeLoop, ...)`` (``bkjob_async.testing``)
        runs on virtual time; whenever nothing in the loop is ready, its clock jumps to the
        next timer, so a sync ``Poller``'s waits take no real time. Give the simulator that
        clock (``BkJobSimulator(virtual_clock=loop_time)``) and talk to it in memory
        (``transport=sim.transport()``). The clock runs ahead while the calling thread does
        something else and the loop has timers (a poller's polls). Other arguments are the
        constructor's.
        """
        if not callable(loop_factory):
            raise TypeError(f"loop_factory must make an event loop, not {loop_factory!r}")
        client = cls(base_url, **kwargs)
        client._provider = BlockingPortalProvider(backend_options={"loop_factory": loop_factory})
        return client

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<sync BkJobClient {self.protocol.url('')!r} {self.flavor.value} {state}>"

    def __enter__(self) -> BkJobClient:
        self._loop()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def flavor(self) -> ApiFlavor:
        """The API generation this client speaks."""
        return self.protocol.flavor

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    def _loop(self) -> tuple[BlockingPortal, _client.BkJobClient]:
        """Return the loop's portal and the async client in it (made in this process)."""
        _refuse_in_a_loop()
        with self._lock:
            if self._closed:
                raise RuntimeError("this BkJobClient is closed; create a new one")
            if self._pid != os.getpid():  # first use, or first in a child after a fork
                if self._async is not None:  # (a parent's, on a loop not in this process)
                    _LOOP.keep(self._async)
                portal = _LOOP.lease() if self._provider is None else self._provider.__enter__()
                base_url, kwargs = self._args
                make = functools.partial(_client.BkJobClient, base_url, **kwargs)
                self._async = portal.call(make)
                self._portal, self._pid = portal, os.getpid()
                self._pollers = weakref.WeakSet()  # (a parent's pollers stay there)
            assert self._portal is not None
            assert self._async is not None
            return self._portal, self._async

    def as_user(
        self,
        username: str | None = None,
        *,
        bk_token: str | None = None,
        access_token: str | None = None,
        language: str | None = None,
    ) -> BkJobClient:
        """Return this client acting as another user: a view over the same session.

        As ``bkjob_async.BkJobClient.as_user``: every method and ``call`` of the view sends
        the identity given here (a ``username``, a user's ``bk_token`` or an
        ``access_token``), in ``language`` (``None``: this client's); the view owns nothing
        (closing it does nothing), and closing this client ends it too.

        :raises ValueError: no identity, or a ``language`` that cannot be a header.
        :raises TypeError: an identity that is not a non-empty ``str``.
        """
        if self._closed:
            raise RuntimeError("this BkJobClient is closed; create a new one")
        identity = {"username": username, "bk_token": bk_token, "access_token": access_token}
        return _View(self, identity, language)

    @property
    def compat(self) -> Compat[dict[str, Any]]:
        """The official SDK's shape of this client: ``client.compat.jobv3.NAME(params)``
        takes the SDK's dictionary and returns its envelope (``bkjob_async.compat``)."""
        return Compat(self, _send_sdk_shaped)

    @property
    def _root(self) -> BkJobClient:
        return self

    def close(self) -> None:
        """End the client's pollers and their watches, close its session, and stop the loop
        thread if no other client uses it. Calls after this raise ``RuntimeError``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            portal, client, mine = self._portal, self._async, self._pid == os.getpid()
        if portal is None or client is None or not mine:
            return
        try:
            for poller in list(self._pollers):
                poller.close()
            portal.call(client.aclose)
        finally:
            if self._provider is None:
                _LOOP.release()
            else:
                self._provider.__exit__(None, None, None)

    def _blocking(
        self,
        method: Callable[Concatenate[_client.BkJobClient, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run the async client's ``method`` with these arguments in the loop; block for it."""
        portal, client = self._loop()
        result: T = _wait(portal, functools.partial(method, client, *args, **kwargs))
        return result

    def _pages(
        self,
        method: Callable[Concatenate[_client.BkJobClient, P], AsyncIterator[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Iterator[T]:
        """Yield the items of the async client's paging ``method`` (an async generator),
        each page read in the loop when it is needed."""
        portal, client = self._loop()
        yield from _iterate(portal, method(client, *args, **kwargs))

    def follow_logs(
        self,
        scope: Scope,
        job_instance_id: int,
        *,
        step_instance_id: int | None = None,
        hosts: Iterable[Host] | None = None,
        interval: float = 2.0,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> Iterator[LogText]:
        """Yield each host's new script-log text as the job runs, until it ends
        (``bkjob_async.polling.follow_logs``: a status read a turn, then the logs of the hosts
        that moved or run; no read after the end). ``sleep``: an async function, run in the
        loop, between turns (``anyio.sleep`` by default).
        """
        follow = functools.partial(
            _follow_logs,
            scope=scope,
            job_instance_id=job_instance_id,
            step_instance_id=step_instance_id,
            hosts=None if hosts is None else list(hosts),
            interval=interval,
            sleep=anyio.sleep if sleep is None else sleep,
        )
        portal, client = self._loop()
        return _iterate(portal, follow(client))

    def run(
        self, func: Callable[[_client.BkJobClient], Awaitable[T]], *, timeout: float | None = None
    ) -> T:
        """Run ``func(client)`` on this client's loop and return what it returns.

        ``client`` is the ``bkjob_async.BkJobClient`` this one drives (this view's identity
        for an ``as_user`` view): one coroutine serves an async app and, through ``run``, a
        blocking one (Django, Celery); pass its other arguments with ``functools.partial``.
        ``TimeoutError`` after ``timeout`` seconds, the coroutine cancelled.
        """
        if not callable(func):
            raise TypeError(f"func must be an async function, not {type(func).__name__}")
        portal, inner = self._loop()
        found: T = _wait(portal, func, inner, timeout=timeout)
        return found

    # --- generated methods (scripts/gen_facades.py, `make facades`): do not edit ---
    def send(self, request: Request) -> Any:
        """Send a prepared request with this client's retries; return the envelope's ``data``."""
        return self._blocking(_client.BkJobClient.send, request)

    def call(
        self,
        api: str,
        params: Mapping[str, Any] | None = None,
        *,
        method: str | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Call any bk-job API by its name, with bk-job's own parameter names.

        ``params`` are as bk-job's docs (and the official SDK's ``client.jobv3.NAME({...})``)
        take them, minus credentials (the client sends its own) and minus the scope's
        spelling only if you leave it out on purpose. An API of the endpoint table goes as its
        row says (the gateway's method, GET parameters in the query, POST ones in the JSON
        body; the v2 name on ESB v2, where a v2 name is taken too) and returns the same typed
        answer as its own method. Any other API goes with ``method`` (POST unless given) and
        returns the envelope's ``data`` as decoded.

        :param method: ``"GET"`` or ``"POST"``; for an API of the table it must be its method.
        :param idempotent: whether a failed attempt may be sent again. An API of the table
            follows its row unless this says otherwise; any other is never retried unless
            this is ``True``.
        :raises ValueError: a credential in ``params``, a method the row does not use, or a
            malformed API name.
        """
        return self._blocking(
            _client.BkJobClient.call, api, params, method=method, idempotent=idempotent
        )

    def get_job_instance_status(
        self, scope: Scope, job_instance_id: int, *, with_hosts: bool = True
    ) -> JobInstanceStatus:
        """Return a job's status, its steps and (``with_hosts``) each host of the current round."""
        return self._blocking(
            _client.BkJobClient.get_job_instance_status,
            scope,
            job_instance_id,
            with_hosts=with_hosts,
        )

    def get_step_instance_status(
        self,
        scope: Scope,
        job_instance_id: int,
        step_instance_id: int,
        *,
        execute_count: int | None = None,
        batch: int | None = None,
        max_host_num_per_group: int | None = None,
        status: HostStatus | int | None = None,
        tag: str | None = None,
    ) -> StepInstanceStatus:
        """Return a step's hosts grouped by result; ``execute_count`` reads an earlier round.

        :param batch: a rolling step's batch, numbered from 1. Left out, every batch of the step
            is returned (the client sends ``batch=0``: the gateway alone would answer the
            latest batch only). ESB v2 has no filters and always answers every batch.
        :raises ValueError: ``batch`` below 1, or a filter on ESB v2.

        On ESB v2 the answer is partial: bk-job lists the hosts of the first result group only
        and reports the others as empty. Those groups come back with ``host_size=None``,
        ``step.hosts`` is ``None`` and ``partial`` is true; never read their hosts as absent,
        and read every host's status from ``get_job_instance_status``.
        """
        return self._blocking(
            _client.BkJobClient.get_step_instance_status,
            scope,
            job_instance_id,
            step_instance_id,
            execute_count=execute_count,
            batch=batch,
            max_host_num_per_group=max_host_num_per_group,
            status=status,
            tag=tag,
        )

    def operate_step_instance(
        self, scope: Scope, job_instance_id: int, step_instance_id: int, operation: StepOperation
    ) -> None:
        """Retry, skip, confirm or ignore a step; raise ``OperationNotAllowedError`` if refused."""
        return self._blocking(
            _client.BkJobClient.operate_step_instance,
            scope,
            job_instance_id,
            step_instance_id,
            operation,
        )

    def operate_job_instance(
        self, scope: Scope, job_instance_id: int, operation: JobOperation
    ) -> None:
        """Terminate a running job, or start one created with ``start_task=False``."""
        return self._blocking(
            _client.BkJobClient.operate_job_instance, scope, job_instance_id, operation
        )

    def get_job_instance_list(
        self,
        scope: Scope,
        *,
        created_from: _dt.datetime,
        created_to: _dt.datetime,
        job_instance_id: int | None = None,
        job_cron_id: int | None = None,
        operator: str | None = None,
        name: str | None = None,
        launch_mode: LaunchMode | int | None = None,
        type: TaskType | int | None = None,
        status: JobStatus | int | None = None,
        ip: str | None = None,
        start: int = 0,
        length: int = 20,
    ) -> JobInstancePage:
        """Return one page of the jobs created in an aware window of up to 30 days (v3 only).

        The filters ``job_instance_id``, ``job_cron_id``, ``operator``, ``name``,
        ``launch_mode``, ``type``, ``status`` and ``ip`` narrow it; ``length`` is 1..1000.
        """
        return self._blocking(
            _client.BkJobClient.get_job_instance_list,
            scope,
            created_from=created_from,
            created_to=created_to,
            job_instance_id=job_instance_id,
            job_cron_id=job_cron_id,
            operator=operator,
            name=name,
            launch_mode=launch_mode,
            type=type,
            status=status,
            ip=ip,
            start=start,
            length=length,
        )

    def iter_job_instances(
        self,
        scope: Scope,
        *,
        created_from: _dt.datetime,
        created_to: _dt.datetime,
        job_instance_id: int | None = None,
        job_cron_id: int | None = None,
        operator: str | None = None,
        name: str | None = None,
        launch_mode: LaunchMode | int | None = None,
        type: TaskType | int | None = None,
        status: JobStatus | int | None = None,
        ip: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[JobInstanceSummary]:
        """Yield every job the history list matches, a page at a time, until ``total`` is reached.

        On ``apigw-v4`` a page is 200 jobs at most (bk-job's cap there), whatever ``page_size``.
        The filters are those of ``get_job_instance_list`` (``status``, ``operator``,
        ``name``, ...). A job created while paging shifts the pages; one already yielded is not
        yielded again. Some installs cap ``start`` (``startLimitEnabled``, 1000 by default):
        past it the server answers ``InvalidRequestError``.
        """
        return self._pages(
            _client.BkJobClient.iter_job_instances,
            scope,
            created_from=created_from,
            created_to=created_to,
            job_instance_id=job_instance_id,
            job_cron_id=job_cron_id,
            operator=operator,
            name=name,
            launch_mode=launch_mode,
            type=type,
            status=status,
            ip=ip,
            page_size=page_size,
        )

    def get_job_instance_global_var_value(self, scope: Scope, job_instance_id: int) -> JobVariables:
        """Return the values a job's string variables held after each step (its outputs).

        bk-job reports string variables only; ``JobVariables.values()`` gives the latest.
        """
        return self._blocking(
            _client.BkJobClient.get_job_instance_global_var_value, scope, job_instance_id
        )

    def fast_execute_script(
        self,
        scope: Scope,
        *,
        targets: Targets,
        account: Account,
        script_content: str | None = None,
        script_id: str | None = None,
        script_version_id: int | None = None,
        script_language: ScriptLanguage | int | str = ScriptLanguage.SHELL,
        script_param: str | None = None,
        is_param_sensitive: bool = False,
        script_timeout: int | None = None,
        task_name: str | None = None,
        callback_url: str | None = None,
        rolling_config: RollingConfig | None = None,
        start_task: bool = True,
    ) -> JobLaunch:
        """Run a script on ``targets``; pass its text, the client base64-encodes it.

        Pass exactly one of ``script_content``, ``script_id`` or ``script_version_id``.
        ``script_timeout`` is 1..259200 seconds. ``targets`` are checked against what the
        flavor's server reads (see ``Targets``): a target bk-job would drop is a ``ValueError``.
        """
        return self._blocking(
            _client.BkJobClient.fast_execute_script,
            scope,
            targets=targets,
            account=account,
            script_content=script_content,
            script_id=script_id,
            script_version_id=script_version_id,
            script_language=script_language,
            script_param=script_param,
            is_param_sensitive=is_param_sensitive,
            script_timeout=script_timeout,
            task_name=task_name,
            callback_url=callback_url,
            rolling_config=rolling_config,
            start_task=start_task,
        )

    def fast_transfer_file(
        self,
        scope: Scope,
        *,
        targets: Targets,
        account: Account,
        file_target_path: str,
        file_sources: Sequence[FileSource],
        file_target_name: str | None = None,
        task_name: str | None = None,
        transfer_timeout: int | None = None,
        transfer_mode: int | None = None,
        download_speed_limit: int | None = None,
        upload_speed_limit: int | None = None,
        callback_url: str | None = None,
        rolling_config: RollingConfig | None = None,
        start_task: bool = True,
    ) -> JobLaunch:
        """Copy files from ``file_sources`` to ``file_target_path`` on ``targets``.

        On ESB v2 (``fast_push_file``) bk-job does not report the step, so
        ``step_instance_id`` of the launch is ``None``; read it from ``get_job_instance_status``.
        """
        return self._blocking(
            _client.BkJobClient.fast_transfer_file,
            scope,
            targets=targets,
            account=account,
            file_target_path=file_target_path,
            file_sources=file_sources,
            file_target_name=file_target_name,
            task_name=task_name,
            transfer_timeout=transfer_timeout,
            transfer_mode=transfer_mode,
            download_speed_limit=download_speed_limit,
            upload_speed_limit=upload_speed_limit,
            callback_url=callback_url,
            rolling_config=rolling_config,
            start_task=start_task,
        )

    def execute_job_plan(
        self,
        scope: Scope,
        job_plan_id: int,
        *,
        global_vars: Sequence[GlobalVar] = (),
        callback_url: str | None = None,
        start_task: bool = True,
    ) -> JobLaunch:
        """Launch a job plan with the given global variable values."""
        return self._blocking(
            _client.BkJobClient.execute_job_plan,
            scope,
            job_plan_id,
            global_vars=global_vars,
            callback_url=callback_url,
            start_task=start_task,
        )

    def push_config_file(
        self,
        scope: Scope,
        *,
        targets: Targets,
        account: Account,
        file_target_path: str,
        files: Sequence[ConfigFile],
        task_name: str | None = None,
        callback_url: str | None = None,
    ) -> JobLaunch:
        """Write config files (``ConfigFile``) into ``file_target_path`` on ``targets``.

        bk-job runs it as a one-step file job: follow it like any other launch. Contents are
        base64-encoded by the client and never logged. On ESB v2 only ``ips`` targets are
        read by bk-job (others are refused here) and there is no ``callback_url``; no flavor
        reports the step (``step_instance_id`` is ``None``).
        """
        return self._blocking(
            _client.BkJobClient.push_config_file,
            scope,
            targets=targets,
            account=account,
            file_target_path=file_target_path,
            files=files,
            task_name=task_name,
            callback_url=callback_url,
        )

    def fast_execute_sql(
        self,
        scope: Scope,
        *,
        targets: Targets,
        db_account_id: int,
        script_content: str | None = None,
        script_id: str | None = None,
        script_version_id: int | None = None,
        script_timeout: int | None = None,
        task_name: str | None = None,
        callback_url: str | None = None,
        start_task: bool = True,
    ) -> JobLaunch:
        """Run a SQL script (one of ``script_content``, ``script_id``, ``script_version_id``)
        on ``targets`` as a DB account; the launch names no step (read it from the status).
        """
        return self._blocking(
            _client.BkJobClient.fast_execute_sql,
            scope,
            targets=targets,
            db_account_id=db_account_id,
            script_content=script_content,
            script_id=script_id,
            script_version_id=script_version_id,
            script_timeout=script_timeout,
            task_name=task_name,
            callback_url=callback_url,
            start_task=start_task,
        )

    def get_job_instance_ip_log(
        self, scope: Scope, job_instance_id: int, step_instance_id: int, host: HostRef
    ) -> HostLog:
        """Return one host's log in a step's current round (v3 only).

        ``host`` is a ``bk_host_id``, a ``Host`` or a ``(bk_cloud_id, ip)`` pair; bk-job
        echoes it as asked, so a host given by id comes back without its ip.
        """
        return self._blocking(
            _client.BkJobClient.get_job_instance_ip_log,
            scope,
            job_instance_id,
            step_instance_id,
            host,
        )

    def batch_get_job_instance_ip_log(
        self, scope: Scope, job_instance_id: int, step_instance_id: int, hosts: Sequence[HostRef]
    ) -> tuple[HostLog, ...]:
        """Return the logs of any number of hosts, asked 500 at a time (bk-job's limit).

        Every request is built, and every host checked, before the first is sent; the answers
        are concatenated in request order. bk-job leaves out hosts it has no log for (or, for
        a file step, answers a row of nulls only, which is left out here too).
        """
        return self._blocking(
            _client.BkJobClient.batch_get_job_instance_ip_log,
            scope,
            job_instance_id,
            step_instance_id,
            hosts,
        )

    def batch_get_job_instance_execute_object_log(
        self,
        scope: Scope,
        job_instance_id: int,
        step_instance_id: int,
        *,
        hosts: Sequence[HostRef] = (),
        container_ids: Sequence[int] = (),
    ) -> tuple[ExecuteObjectLog, ...]:
        """Return the logs of hosts or containers of a step, asked 50 at a time (gateway v4).

        Give ``hosts`` (ids, ``Host`` values or ``(bk_cloud_id, ip)`` pairs) or
        ``container_ids`` (each a ``Container.id``), not both: bk-job reads one list per
        request. Every request is built before the first is sent; answers are concatenated.
        """
        return self._blocking(
            _client.BkJobClient.batch_get_job_instance_execute_object_log,
            scope,
            job_instance_id,
            step_instance_id,
            hosts=hosts,
            container_ids=container_ids,
        )

    def get_job_instance_log(self, scope: Scope, job_instance_id: int) -> tuple[StepLog, ...]:
        """Return every step of a job with each host's status and log (ESB v2 only).

        The v3 flavors have no such API (use ``batch_get_job_instance_ip_log``): there this
        raises ``UnsupportedOperationError`` before any request.
        """
        return self._blocking(_client.BkJobClient.get_job_instance_log, scope, job_instance_id)

    def get_job_plan_list(
        self,
        scope: Scope,
        *,
        name: str | None = None,
        creator: str | None = None,
        last_modify_user: str | None = None,
        job_template_id: int | None = None,
        start: int = 0,
        length: int = 20,
    ) -> JobPlanPage:
        """Return one page of a scope's job plans, newest changed first.

        The filters: ``name`` (a part of it), ``creator``, ``last_modify_user``,
        ``job_template_id`` (v3 only). On ESB v2 (``get_job_list``) the page has no ``total``.
        """
        return self._blocking(
            _client.BkJobClient.get_job_plan_list,
            scope,
            name=name,
            creator=creator,
            last_modify_user=last_modify_user,
            job_template_id=job_template_id,
            start=start,
            length=length,
        )

    def iter_job_plans(
        self,
        scope: Scope,
        *,
        name: str | None = None,
        creator: str | None = None,
        last_modify_user: str | None = None,
        job_template_id: int | None = None,
        page_size: int = 1000,
    ) -> Iterator[JobPlan]:
        """Yield every plan ``get_job_plan_list`` matches, a page at a time."""
        return self._pages(
            _client.BkJobClient.iter_job_plans,
            scope,
            name=name,
            creator=creator,
            last_modify_user=last_modify_user,
            job_template_id=job_template_id,
            page_size=page_size,
        )

    def get_job_plan_detail(self, scope: Scope, job_plan_id: int) -> JobPlan:
        """Return a plan with its enabled steps and its global variables (their defaults).

        A password variable's value is masked (``******``) by bk-job v3; ESB v2 sends it as
        stored. Either way it never shows in a ``repr``.
        """
        return self._blocking(_client.BkJobClient.get_job_plan_detail, scope, job_plan_id)

    def get_account_list(
        self,
        scope: Scope,
        *,
        category: AccountCategory | int | None = None,
        account: str | None = None,
        alias: str | None = None,
        start: int = 0,
        length: int = 20,
    ) -> AccountPage:
        """Return one page of a scope's execution accounts (``ExecutionAccount.ref`` launches).

        On ESB v2 (``get_os_account``) every system account comes in one page.
        """
        return self._blocking(
            _client.BkJobClient.get_account_list,
            scope,
            category=category,
            account=account,
            alias=alias,
            start=start,
            length=length,
        )

    def iter_accounts(
        self,
        scope: Scope,
        *,
        category: AccountCategory | int | None = None,
        account: str | None = None,
        alias: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[ExecutionAccount]:
        """Yield every account of a scope (of one ``category``), a page at a time."""
        return self._pages(
            _client.BkJobClient.iter_accounts,
            scope,
            category=category,
            account=account,
            alias=alias,
            page_size=page_size,
        )

    def get_script_list(
        self,
        scope: Scope | None,
        *,
        name: str | None = None,
        script_language: ScriptLanguage | int | None = None,
        start: int = 0,
        length: int = 20,
    ) -> ScriptPage:
        """Return one page of a scope's scripts that have an online version.

        ``scope=None`` lists the public scripts (``get_public_script_list``). ESB v2 lists a
        script by its online version: ``script_id`` is ``None`` there, ``version`` and
        ``online_script_version_id`` are the online version's.
        """
        return self._blocking(
            _client.BkJobClient.get_script_list,
            scope,
            name=name,
            script_language=script_language,
            start=start,
            length=length,
        )

    def iter_scripts(
        self,
        scope: Scope | None,
        *,
        name: str | None = None,
        script_language: ScriptLanguage | int | None = None,
        page_size: int = 1000,
    ) -> Iterator[Script]:
        """Yield every script ``get_script_list`` matches (``scope=None``: the public ones)."""
        return self._pages(
            _client.BkJobClient.iter_scripts,
            scope,
            name=name,
            script_language=script_language,
            page_size=page_size,
        )

    def get_public_script_list(
        self,
        *,
        name: str | None = None,
        script_language: ScriptLanguage | int | None = None,
        start: int = 0,
        length: int = 20,
    ) -> ScriptPage:
        """Return one page of the public library's scripts that have an online version."""
        return self._blocking(
            _client.BkJobClient.get_public_script_list,
            name=name,
            script_language=script_language,
            start=start,
            length=length,
        )

    def get_script_version_list(
        self,
        scope: Scope | None,
        script_id: str,
        *,
        return_script_content: bool = False,
        start: int = 0,
        length: int = 20,
    ) -> ScriptVersionPage:
        """Return one page of a script's versions, last changed first (v3 only).

        Their text (``content``) comes only with ``return_script_content``; ``scope=None`` reads a
        public script's (``get_public_script_version_list``).
        """
        return self._blocking(
            _client.BkJobClient.get_script_version_list,
            scope,
            script_id,
            return_script_content=return_script_content,
            start=start,
            length=length,
        )

    def iter_script_versions(
        self,
        scope: Scope | None,
        script_id: str,
        *,
        return_script_content: bool = False,
        page_size: int = 1000,
    ) -> Iterator[ScriptVersion]:
        """Yield every version of a script (``scope=None``: a public one), a page at a time."""
        return self._pages(
            _client.BkJobClient.iter_script_versions,
            scope,
            script_id,
            return_script_content=return_script_content,
            page_size=page_size,
        )

    def get_public_script_version_list(
        self,
        script_id: str,
        *,
        return_script_content: bool = False,
        start: int = 0,
        length: int = 20,
    ) -> ScriptVersionPage:
        """Return one page of a public script's versions, last changed first (v3 only)."""
        return self._blocking(
            _client.BkJobClient.get_public_script_version_list,
            script_id,
            return_script_content=return_script_content,
            start=start,
            length=length,
        )

    def get_script_version_detail(
        self,
        scope: Scope | None,
        *,
        script_version_id: int | None = None,
        script_id: str | None = None,
        version: str | None = None,
    ) -> ScriptVersion | None:
        """Return one script version with its text (v3 only; v2: ``get_script_detail``).

        Name it by ``script_version_id``, or by ``script_id`` and ``version``; ``scope=None``
        reads the public library (``get_public_script_version_detail``). A version bk-job
        lacks is a ``NotFoundError`` (bk-job 3.8 on; before, ``None``).
        """
        return self._blocking(
            _client.BkJobClient.get_script_version_detail,
            scope,
            script_version_id=script_version_id,
            script_id=script_id,
            version=version,
        )

    def get_public_script_version_detail(
        self,
        *,
        script_version_id: int | None = None,
        script_id: str | None = None,
        version: str | None = None,
    ) -> ScriptVersion | None:
        """Return one public script version with its text (v3 only; as
        ``get_script_version_detail``).
        """
        return self._blocking(
            _client.BkJobClient.get_public_script_version_detail,
            script_version_id=script_version_id,
            script_id=script_id,
            version=version,
        )

    def get_script_detail(self, scope: Scope | None, script_version_id: int) -> ScriptVersion:
        """Return one script version by id, without its text (ESB v2 only; on v3 use
        ``get_script_version_detail``). ``scope=None`` reads a public script's version.
        """
        return self._blocking(_client.BkJobClient.get_script_detail, scope, script_version_id)

    def create_script(
        self,
        scope: Scope,
        *,
        name: str,
        content: str,
        version: str,
        script_language: ScriptLanguage | int = ScriptLanguage.SHELL,
        description: str | None = None,
        version_desc: str | None = None,
    ) -> ScriptVersion:
        """Create a script in a scope's library with its first version, a draft (v3 only).

        ``content`` is the text (the client base64-encodes it). ``name`` is at most 60
        characters, none of ``\\ | / : * < > " ?``; ``version`` at most 60 of
        ``A-Z a-z 0-9 _ - # @ .``. A name the scope has already is refused (1243002).
        ``publish_script_version`` puts the version online.
        """
        return self._blocking(
            _client.BkJobClient.create_script,
            scope,
            name=name,
            content=content,
            version=version,
            script_language=script_language,
            description=description,
            version_desc=version_desc,
        )

    def create_public_script(
        self,
        *,
        name: str,
        content: str,
        version: str,
        script_language: ScriptLanguage | int = ScriptLanguage.SHELL,
        description: str | None = None,
        version_desc: str | None = None,
    ) -> ScriptVersion:
        """Create a script in the public library, as ``create_script`` does (v3 only)."""
        return self._blocking(
            _client.BkJobClient.create_public_script,
            name=name,
            content=content,
            version=version,
            script_language=script_language,
            description=description,
            version_desc=version_desc,
        )

    def create_script_version(
        self,
        scope: Scope,
        script_id: str,
        *,
        content: str,
        version: str,
        version_desc: str | None = None,
    ) -> ScriptVersion:
        """Add a draft version to a script (v3 only); a version name it has is refused."""
        return self._blocking(
            _client.BkJobClient.create_script_version,
            scope,
            script_id,
            content=content,
            version=version,
            version_desc=version_desc,
        )

    def create_public_script_version(
        self, script_id: str, *, content: str, version: str, version_desc: str | None = None
    ) -> ScriptVersion:
        """Add a draft version to a public script (v3 only)."""
        return self._blocking(
            _client.BkJobClient.create_public_script_version,
            script_id,
            content=content,
            version=version,
            version_desc=version_desc,
        )

    def update_script_basic(
        self, scope: Scope, script_id: str, *, name: str, description: str | None = None
    ) -> Script:
        """Rename a script and (if given) describe it anew (v3 only).

        bk-job answers the script's row without its online version
        (``online_script_version_id`` is ``None``).
        """
        return self._blocking(
            _client.BkJobClient.update_script_basic,
            scope,
            script_id,
            name=name,
            description=description,
        )

    def update_public_script_basic(
        self, script_id: str, *, name: str, description: str | None = None
    ) -> Script:
        """Rename a public script and (if given) describe it anew (v3 only)."""
        return self._blocking(
            _client.BkJobClient.update_public_script_basic,
            script_id,
            name=name,
            description=description,
        )

    def update_script_version(
        self,
        scope: Scope,
        script_id: str,
        script_version_id: int,
        *,
        content: str,
        version_desc: str | None = None,
    ) -> ScriptVersion:
        """Replace a draft version's text (v3 only); any other version is refused (1241003)."""
        return self._blocking(
            _client.BkJobClient.update_script_version,
            scope,
            script_id,
            script_version_id,
            content=content,
            version_desc=version_desc,
        )

    def update_public_script_version(
        self,
        script_id: str,
        script_version_id: int,
        *,
        content: str,
        version_desc: str | None = None,
    ) -> ScriptVersion:
        """Replace a public draft version's text (v3 only)."""
        return self._blocking(
            _client.BkJobClient.update_public_script_version,
            script_id,
            script_version_id,
            content=content,
            version_desc=version_desc,
        )

    def publish_script_version(
        self, scope: Scope, script_id: str, script_version_id: int
    ) -> ScriptVersionState:
        """Put a version online; the script's online one goes offline (v3 only).

        A disabled version cannot be published (1241003).
        """
        return self._blocking(
            _client.BkJobClient.publish_script_version, scope, script_id, script_version_id
        )

    def publish_public_script_version(
        self, script_id: str, script_version_id: int
    ) -> ScriptVersionState:
        """Put a public script's version online (v3 only)."""
        return self._blocking(
            _client.BkJobClient.publish_public_script_version, script_id, script_version_id
        )

    def disable_script_version(
        self, scope: Scope, script_id: str, script_version_id: int
    ) -> ScriptVersionState:
        """Disable an online or offline version: it never runs again (v3 only)."""
        return self._blocking(
            _client.BkJobClient.disable_script_version, scope, script_id, script_version_id
        )

    def disable_public_script_version(
        self, script_id: str, script_version_id: int
    ) -> ScriptVersionState:
        """Disable a public script's version (v3 only)."""
        return self._blocking(
            _client.BkJobClient.disable_public_script_version, script_id, script_version_id
        )

    def delete_script_version(self, scope: Scope, script_id: str, script_version_id: int) -> None:
        """Delete one version; the script goes with its last (v3 only)."""
        return self._blocking(
            _client.BkJobClient.delete_script_version, scope, script_id, script_version_id
        )

    def delete_public_script_version(self, script_id: str, script_version_id: int) -> None:
        """Delete one version of a public script (v3 only)."""
        return self._blocking(
            _client.BkJobClient.delete_public_script_version, script_id, script_version_id
        )

    def delete_script(self, scope: Scope, script_id: str) -> None:
        """Delete a script and every version of it (v3 only)."""
        return self._blocking(_client.BkJobClient.delete_script, scope, script_id)

    def delete_public_script(self, script_id: str) -> None:
        """Delete a public script and every version of it (v3 only)."""
        return self._blocking(_client.BkJobClient.delete_public_script, script_id)

    def check_script(
        self, content: str, *, script_language: ScriptLanguage | int = ScriptLanguage.SHELL
    ) -> tuple[ScriptCheckItem, ...]:
        """Check a script's text against the enabled dangerous-command rules (v3 only).

        ``content`` is the text (the client base64-encodes it); each finding names the line.
        """
        return self._blocking(
            _client.BkJobClient.check_script, content, script_language=script_language
        )

    def get_dangerous_rule_list(
        self,
        *,
        expression: str | None = None,
        script_languages: Iterable[ScriptLanguage | int] | None = None,
        description: str | None = None,
        action: DangerousRuleAction | int | None = None,
    ) -> tuple[DangerousRule, ...]:
        """Return the dangerous-command rules by priority, or those that match (v3 only):
        ``expression`` and ``description`` as substrings, any of ``script_languages``.
        """
        return self._blocking(
            _client.BkJobClient.get_dangerous_rule_list,
            expression=expression,
            script_languages=script_languages,
            description=description,
            action=action,
        )

    def create_dangerous_rule(
        self,
        *,
        expression: str,
        script_languages: Iterable[ScriptLanguage | int],
        action: DangerousRuleAction | int,
        description: str = "",
    ) -> DangerousRule:
        """Add a rule (v3 only): a regular expression (Java's dialect, at most 250 characters)
        checked on each line of scripts in ``script_languages``. It starts disabled
        (``enable_dangerous_rule``); ``INTERCEPT`` then refuses to launch a matching script.
        """
        return self._blocking(
            _client.BkJobClient.create_dangerous_rule,
            expression=expression,
            script_languages=script_languages,
            action=action,
            description=description,
        )

    def update_dangerous_rule(
        self,
        rule_id: int,
        *,
        expression: str,
        script_languages: Iterable[ScriptLanguage | int],
        action: DangerousRuleAction | int,
        description: str = "",
    ) -> DangerousRule:
        """Replace a rule's fields; whether it is enabled stays (v3 only)."""
        return self._blocking(
            _client.BkJobClient.update_dangerous_rule,
            rule_id,
            expression=expression,
            script_languages=script_languages,
            action=action,
            description=description,
        )

    def delete_dangerous_rule(self, rule_id: int) -> None:
        """Delete a rule (v3 only); bk-job answers success for a rule it does not have."""
        return self._blocking(_client.BkJobClient.delete_dangerous_rule, rule_id)

    def enable_dangerous_rule(self, rule_id: int) -> DangerousRuleState:
        """Enable a rule (v3 only)."""
        return self._blocking(_client.BkJobClient.enable_dangerous_rule, rule_id)

    def disable_dangerous_rule(self, rule_id: int) -> DangerousRuleState:
        """Disable a rule (v3 only)."""
        return self._blocking(_client.BkJobClient.disable_dangerous_rule, rule_id)

    def get_job_template_list(
        self,
        scope: Scope,
        *,
        name: str | None = None,
        creator: str | None = None,
        last_modify_user: str | None = None,
        start: int = 0,
        length: int = 20,
    ) -> JobTemplatePage:
        """Return one page of a scope's job templates, last changed first (``name``: a part)."""
        return self._blocking(
            _client.BkJobClient.get_job_template_list,
            scope,
            name=name,
            creator=creator,
            last_modify_user=last_modify_user,
            start=start,
            length=length,
        )

    def iter_job_templates(
        self,
        scope: Scope,
        *,
        name: str | None = None,
        creator: str | None = None,
        last_modify_user: str | None = None,
        page_size: int = 100,
    ) -> Iterator[JobTemplate]:
        """Yield every job template ``get_job_template_list`` matches, a page at a time."""
        return self._pages(
            _client.BkJobClient.iter_job_templates,
            scope,
            name=name,
            creator=creator,
            last_modify_user=last_modify_user,
            page_size=page_size,
        )

    def get_step_instance_detail(
        self, scope: Scope, job_instance_id: int, step_instance_id: int
    ) -> StepDetail:
        """Return what a step of a job was told to do: script, files or approval (gateway only)."""
        return self._blocking(
            _client.BkJobClient.get_step_instance_detail, scope, job_instance_id, step_instance_id
        )

    def get_job_template_detail(self, scope: Scope, job_template_id: int) -> JobTemplateDetail:
        """Return a job template with its steps and variables (gateway v4 only)."""
        return self._blocking(_client.BkJobClient.get_job_template_detail, scope, job_template_id)

    def create_job_plan(
        self,
        scope: Scope,
        job_template_id: int,
        name: str,
        *,
        enable_steps: Sequence[int] | None = None,
        variables: Sequence[GlobalVar] = (),
        follow_template: Sequence[str] = (),
    ) -> CreatedJobPlan:
        """Create a plan from a template (gateway v4 only): ``name`` 1 to 60 characters, the
        template's steps ``enable_steps`` (all if ``None``), ``variables`` by name (a text
        ``value`` or hosts as ``server``; a ``GlobalVar.password`` stays out of errors), and the
        names in ``follow_template`` keep the template's values.
        """
        return self._blocking(
            _client.BkJobClient.create_job_plan,
            scope,
            job_template_id,
            name,
            enable_steps=enable_steps,
            variables=variables,
            follow_template=follow_template,
        )

    def create_account(
        self,
        scope: Scope,
        *,
        account: str,
        type: AccountType | int,
        category: AccountCategory | int = AccountCategory.SYSTEM,
        password: str | None = None,
        alias: str | None = None,
        description: str | None = None,
    ) -> ExecutionAccount:
        """Create a system execution account (a Windows one with its ``password``) and return
        it; ``alias`` defaults to the account name.
        """
        return self._blocking(
            _client.BkJobClient.create_account,
            scope,
            account=account,
            type=type,
            category=category,
            password=password,
            alias=alias,
            description=description,
        )

    def update_account(
        self,
        scope: Scope,
        account_id: int,
        *,
        alias: str | None = None,
        password: str | None = None,
        description: str | None = None,
    ) -> ExecutionAccount:
        """Change an account's alias, password or description (``None`` keeps it); return it
        (gateway only).
        """
        return self._blocking(
            _client.BkJobClient.update_account,
            scope,
            account_id,
            alias=alias,
            password=password,
            description=description,
        )

    def delete_account(self, scope: Scope, account_id: int) -> ExecutionAccount:
        """Delete an account; return it as it was."""
        return self._blocking(_client.BkJobClient.delete_account, scope, account_id)

    def get_account_password_encryption_metadata(self) -> PasswordEncryption:
        """Return the public key and algorithm bk-job wants passwords encrypted with (gateway
        only).
        """
        return self._blocking(_client.BkJobClient.get_account_password_encryption_metadata)

    def get_own_db_account_list(self, scope: Scope) -> tuple[ExecutionAccount, ...]:
        """Return the DB accounts of a scope the caller may use (ESB v2 only)."""
        return self._blocking(_client.BkJobClient.get_own_db_account_list, scope)

    def create_file_source(
        self,
        scope: Scope,
        *,
        code: str,
        alias: str,
        credential_id: str,
        base_url: str | None = None,
        type: FileSourceType | str = FileSourceType.BLUEKING_ARTIFACTORY,
        access_params: Mapping[str, Any] | None = None,
        file_prefix: str | None = None,
    ) -> int:
        """Create a file source (a bk-repo by default, at ``base_url``) and return its id.

        ``code`` names it for good (a transfer's ``FileSource(file_source_code=...)``);
        ``credential_id`` is a ``create_credential`` id; ``file_prefix`` ``"${UUID}"`` makes
        bk-job prefix each file with a generated one.
        """
        return self._blocking(
            _client.BkJobClient.create_file_source,
            scope,
            code=code,
            alias=alias,
            credential_id=credential_id,
            base_url=base_url,
            type=type,
            access_params=access_params,
            file_prefix=file_prefix,
        )

    def update_file_source(
        self,
        scope: Scope,
        *,
        code: str,
        alias: str,
        credential_id: str,
        base_url: str | None = None,
        type: FileSourceType | str = FileSourceType.BLUEKING_ARTIFACTORY,
        access_params: Mapping[str, Any] | None = None,
        file_prefix: str | None = None,
    ) -> int:
        """Replace the file source ``code`` (every field, as ``create_file_source`` takes them);
        return its id.
        """
        return self._blocking(
            _client.BkJobClient.update_file_source,
            scope,
            code=code,
            alias=alias,
            credential_id=credential_id,
            base_url=base_url,
            type=type,
            access_params=access_params,
            file_prefix=file_prefix,
        )

    def get_file_source_detail(self, scope: Scope, code: str) -> FileSourceDetail:
        """Return the file source ``code`` of a scope (gateway only)."""
        return self._blocking(_client.BkJobClient.get_file_source_detail, scope, code)

    def create_credential(
        self, scope: Scope, *, name: str, secret: CredentialSecret, description: str | None = None
    ) -> str:
        """Store a credential (``CredentialSecret.for_username_password(...)``, ...) and return
        its id; the secret is masked in every error and never comes back.
        """
        return self._blocking(
            _client.BkJobClient.create_credential,
            scope,
            name=name,
            secret=secret,
            description=description,
        )

    def update_credential(
        self,
        scope: Scope,
        credential_id: str,
        *,
        name: str,
        secret: CredentialSecret,
        description: str | None = None,
    ) -> str:
        """Replace a credential's name, secret and description (a secret value of
        ``KEEP_SECRET`` keeps the stored one); return its id.
        """
        return self._blocking(
            _client.BkJobClient.update_credential,
            scope,
            credential_id,
            name=name,
            secret=secret,
            description=description,
        )

    def get_credential_detail(self, scope: Scope, credential_id: str) -> CredentialDetail:
        """Return a credential's name, type and history, never its secret (gateway only)."""
        return self._blocking(_client.BkJobClient.get_credential_detail, scope, credential_id)

    def generate_local_file_upload_url(self, scope: Scope, file_names: Sequence[str]) -> UploadUrls:
        """Return where to upload each local file, and the path a transfer then names (ESB only)."""
        return self._blocking(_client.BkJobClient.generate_local_file_upload_url, scope, file_names)

    def get_notify_config(self, scope: Scope) -> tuple[NotifyPolicy, ...]:
        """Return a scope's default notification policies, one per way of starting jobs
        (gateway only).
        """
        return self._blocking(_client.BkJobClient.get_notify_config, scope)

    def get_latest_service_version(self) -> str | None:
        """Return the newest version any bk-job service runs (ESB jobv3 only)."""
        return self._blocking(_client.BkJobClient.get_latest_service_version)

    def get_user_authorized_scopes(
        self, *, start: int = 0, length: int = 10
    ) -> AuthorizedScopePage:
        """Return a page of the scopes the user may use (gateway v4 only; ``length`` 1..200)."""
        return self._blocking(
            _client.BkJobClient.get_user_authorized_scopes, start=start, length=length
        )

    def get_cron_list(
        self,
        scope: Scope,
        *,
        name: str | None = None,
        cron_id: int | None = None,
        status: CronStatus | int | None = None,
        creator: str | None = None,
        created_from: _dt.datetime | None = None,
        created_to: _dt.datetime | None = None,
        last_modify_user: str | None = None,
        modified_from: _dt.datetime | None = None,
        modified_to: _dt.datetime | None = None,
        start: int = 0,
        length: int = 20,
    ) -> CronPage:
        """Return one page of a scope's cron jobs: running ones first, then paused ones, each
        last changed first (bk-job's order, ``CronJobDAOImpl``).

        The filters: ``name`` (a part of it), ``cron_id`` (then the others are ignored),
        ``status`` (``CronStatus``), ``creator``, ``last_modify_user``, and the windows
        ``created_from``/``created_to`` and ``modified_from``/``modified_to`` (aware
        ``datetime``; both ends or neither; not on ESB v2). **bk-job ignores the two windows** (at
        588f99bb it reads them and never applies them): the page holds crons of any time; filter
        on ``create_time``/``last_modify_time`` yourself. A ``cron_id`` the scope lacks: an empty
        page on ESB v2 (bk-job answers ``[null]``); on v3 bk-job fails inside (``ServerError``,
        1240002): ask ``get_cron_detail``, which answers ``None``. On ESB v2 the page has no
        ``total``.
        """
        return self._blocking(
            _client.BkJobClient.get_cron_list,
            scope,
            name=name,
            cron_id=cron_id,
            status=status,
            creator=creator,
            created_from=created_from,
            created_to=created_to,
            last_modify_user=last_modify_user,
            modified_from=modified_from,
            modified_to=modified_to,
            start=start,
            length=length,
        )

    def iter_crons(
        self,
        scope: Scope,
        *,
        name: str | None = None,
        cron_id: int | None = None,
        status: CronStatus | int | None = None,
        creator: str | None = None,
        created_from: _dt.datetime | None = None,
        created_to: _dt.datetime | None = None,
        last_modify_user: str | None = None,
        modified_from: _dt.datetime | None = None,
        modified_to: _dt.datetime | None = None,
        page_size: int = 1000,
    ) -> Iterator[CronJob]:
        """Yield every cron job ``get_cron_list`` matches, a page at a time."""
        return self._pages(
            _client.BkJobClient.iter_crons,
            scope,
            name=name,
            cron_id=cron_id,
            status=status,
            creator=creator,
            created_from=created_from,
            created_to=created_to,
            last_modify_user=last_modify_user,
            modified_from=modified_from,
            modified_to=modified_to,
            page_size=page_size,
        )

    def get_cron_detail(self, scope: Scope, cron_id: int) -> CronJob | None:
        """Return a cron job with its variable values, ``None`` if the scope has none (v3 only)."""
        return self._blocking(_client.BkJobClient.get_cron_detail, scope, cron_id)

    def save_cron(
        self,
        scope: Scope,
        *,
        job_plan_id: int | None = None,
        name: str | None = None,
        expression: str | None = None,
        execute_time: _dt.datetime | None = None,
        global_vars: Sequence[GlobalVar] = (),
        execute_time_zone: str | None = None,
        cron_id: int | None = None,
    ) -> CronJob:
        """Create a cron job, or (``cron_id``) change one; return it as bk-job stored it.

        A new one needs ``job_plan_id``, ``name`` (up to 60 characters) and a schedule: an
        ``expression`` (Unix cron, 5 fields: minute hour day month weekday; no ``?``) or a
        one-off ``execute_time``; a change needs at least one of them. ``global_vars`` set the
        plan's variables for every launch (a password's value is a secret of the request;
        bk-job resolves them against the ``job_plan_id`` of the request, so a change of
        variables names the plan again: refused here without one);
        ``execute_time_zone`` is an IANA zone (default: the business's). bk-job **pauses a cron
        job on every save**: start it with ``update_cron_status(..., CronStatus.RUNNING)``.
        ESB v2 takes no ``execute_time``, ``global_vars`` or ``execute_time_zone``.
        """
        return self._blocking(
            _client.BkJobClient.save_cron,
            scope,
            job_plan_id=job_plan_id,
            name=name,
            expression=expression,
            execute_time=execute_time,
            global_vars=global_vars,
            execute_time_zone=execute_time_zone,
            cron_id=cron_id,
        )

    def update_cron_status(self, scope: Scope, cron_id: int, status: CronStatus | int) -> None:
        """Start (``CronStatus.RUNNING``) or pause (``CronStatus.PAUSED``) a cron job.

        A one-off cron job whose time has passed cannot start (``OperationNotAllowedError``).
        """
        return self._blocking(_client.BkJobClient.update_cron_status, scope, cron_id, status)

    def delete_cron(self, scope: Scope, cron_id: int) -> None:
        """Delete a cron job (v3 only); ``NotFoundError`` if the scope has none."""
        return self._blocking(_client.BkJobClient.delete_cron, scope, cron_id)

    def get_script_task_context(
        self,
        scope: Scope,
        job_instance_id: int,
        step_instance_id: int,
        *,
        execute_count: int = 0,
        host_id: int | None = None,
        container_id: int | None = None,
        batch: int | None = None,
        content: str | None = None,
    ) -> TaskContext:
        """Return what bk-job gathers of one host's or container's script task for analysis:
        script, parameters, error log (gateway v4 only). Give ``host_id`` or ``container_id``.
        """
        return self._blocking(
            _client.BkJobClient.get_script_task_context,
            scope,
            job_instance_id,
            step_instance_id,
            execute_count=execute_count,
            host_id=host_id,
            container_id=container_id,
            batch=batch,
            content=content,
        )

    def get_file_task_context(
        self,
        scope: Scope,
        job_instance_id: int,
        step_instance_id: int,
        *,
        mode: FileLogMode | int,
        execute_count: int = 0,
        host_id: int | None = None,
        container_id: int | None = None,
        batch: int | None = None,
    ) -> TaskContext:
        """Return what bk-job gathers of one host's or container's file task for analysis, its
        upload (``mode`` 0) or download (1) side (gateway v4 only).
        """
        return self._blocking(
            _client.BkJobClient.get_file_task_context,
            scope,
            job_instance_id,
            step_instance_id,
            mode=mode,
            execute_count=execute_count,
            host_id=host_id,
            container_id=container_id,
            batch=batch,
        )

    def failed_host_logs(
        self,
        scope: Scope,
        job_instance_id: int,
        *,
        status: JobInstanceStatus | None = None,
        running: bool = False,
        at_once: int = 4,
    ) -> dict[int, tuple[HostLog, ...]]:
        """Return the logs of a job's failed hosts, by step id: what to read after a failure.

        A failed host is one that finished without success. ``status`` is the job's status
        with its hosts (a ``JobFinished.snapshot``, say); without it, or when it lacks the
        hosts of a step (``StepStatus.hosts is None``: a snapshot read from the job list,
        which has no host rows), the job is read first. ``running=True`` (a job stopped
        waiting for at a deadline): hosts still running are read too; without it a job that
        has not finished is refused, as its failed hosts are not known yet. Each step's hosts
        are asked 500 at a time (``batch_get_job_instance_ip_log``), ``at_once`` requests at a
        time; a host bk-job has no log for is listed with no content (never left out); steps
        without failed hosts are left out. ESB v2 has no log API: there this raises
        ``UnsupportedOperationError`` before any request. A job's containers (gateway v4) are
        ``failed_container_logs``'s.

        :raises ValueError: ``status`` is another job's, or the job has not finished and
            ``running`` is not set.
        """
        return self._blocking(
            _client.BkJobClient.failed_host_logs,
            scope,
            job_instance_id,
            status=status,
            running=running,
            at_once=at_once,
        )

    def host_logs(
        self,
        scope: Scope,
        job_instance_id: int,
        *,
        status: JobInstanceStatus | None = None,
        steps: Literal["last", "all"] = "all",
        running: bool = False,
        at_once: int = 4,
    ) -> dict[int, tuple[HostLog, ...]]:
        """Return every host's log of a job's script (or file) steps, by step id, in step order.

        Read once, for results (``bkjob_async.markers.extract`` reads them): every step, or
        the ``last`` one. ``status`` is the job's status with its hosts (a wait's
        ``with_hosts=True`` end, say: then no status is read); without it, or when it lacks a
        step's hosts, the job is read first. Hosts that have not ended are read only with
        ``running=True`` (a job stopped waiting for at a deadline); hosts no step ran have no
        log and are left out. Each step's hosts are asked 500 at a time (bk-job's limit:
        ``batch_get_job_instance_ip_log``), ``at_once`` requests at a time: a 2,000-host step
        costs 4 requests. A host bk-job has no log for is listed with no content, never left
        out. Steps that are neither script nor file steps are left out. ESB v2 has no log API:
        there this raises ``UnsupportedOperationError`` before any request.

        :raises ValueError: ``status`` is another job's.
        """
        return self._blocking(
            _client.BkJobClient.host_logs,
            scope,
            job_instance_id,
            status=status,
            steps=steps,
            running=running,
            at_once=at_once,
        )

    def job_result(
        self,
        scope: Scope,
        job_instance_id: int,
        *,
        status: JobInstanceStatus | None = None,
        success: Iterable[int] = DEFAULT_SUCCESS,
    ) -> JobResult:
        """Return a job's result host by host (``JobResult``): from ``status`` when it has every
        step's hosts (a wait's ``with_hosts=True`` end: no request), else from one status read.

        :raises ValueError: ``status`` is another job's.
        """
        return self._blocking(
            _client.BkJobClient.job_result, scope, job_instance_id, status=status, success=success
        )

    def failed_container_logs(
        self, scope: Scope, job_instance_id: int, *, status: JobInstanceStatus | None = None
    ) -> dict[int, tuple[ExecuteObjectLog, ...]]:
        """Return the logs of a job's failed containers, by step id (gateway v4 only).

        ``failed_host_logs`` for a job run in Kubernetes containers: ``status`` (a
        ``JobFinished.snapshot``, say) is read again when missing or when a step lacks its
        containers (``StepInstance.containers is None``); each step's failed containers are
        asked 50 at a time (``batch_get_job_instance_execute_object_log``, v4's limit); steps
        without failed containers are left out. Other flavors cannot read containers: there
        this raises ``UnsupportedOperationError`` before any request.

        :raises ValueError: ``status`` is another job's.
        """
        return self._blocking(
            _client.BkJobClient.failed_container_logs, scope, job_instance_id, status=status
        )

    # --- end of generated methods ---


def _iterate(
    portal: BlockingPortal, items: AsyncIterator[E], timeout: float | None = None
) -> Iterator[E]:
    """Yield what ``items`` yields, each waited for at most ``timeout`` seconds."""
    while True:
        try:
            item: E = _wait(portal, items.__anext__, timeout=timeout)
        except StopAsyncIteration:
            return
        yield item


def _send_sdk_shaped(client: BkJobClient, request: Request) -> dict[str, Any]:
    """Send an SDK-shaped request (``bkjob_async.compat``) through ``client``; block for it."""
    portal, inner = client._loop()
    envelope: dict[str, Any] = _wait(portal, _compat.send, inner, request)
    return envelope


class _View(BkJobClient):
    """A sync client acting as another user over another's session (``BkJobClient.as_user``)."""

    def __init__(
        self, root: BkJobClient, identity: dict[str, str | None], language: str | None
    ) -> None:
        root = getattr(root, "_of", root)
        #: The client that owns the session, and the identity this view sends.
        self._of, self._identity, self._language = root, identity, language
        self.protocol = _client.acting(root.protocol, **identity, language=language)
        self._made: tuple[_client.BkJobClient, _client.BkJobClient] | None = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        who = _client._identity_text(self.protocol.credentials)
        return f"<sync BkJobClient {self.protocol.url('')!r} {self.flavor.value} {state} as {who}>"

    @property
    def closed(self) -> bool:
        """Whether the client this view acts through was closed."""
        return self._of.closed

    @property
    def _root(self) -> BkJobClient:
        return self._of

    @property
    def _pollers(self) -> weakref.WeakSet[Poller]:  # type: ignore[override]
        return self._of._pollers

    def _loop(self) -> tuple[BlockingPortal, _client.BkJobClient]:
        portal, inner = self._of._loop()
        made = self._made
        if made is None or made[0] is not inner:  # (first use, or a new client after a fork)
            view = inner.as_user(**self._identity, language=self._language)
            made = self._made = (inner, view)
        return portal, made[1]

    def close(self) -> None:
        """Do nothing: a view owns nothing (close the client it was made from)."""


class Watch:
    """A blocking ``bkjob_async.polling.Watch``: ``for event in watch:``, ``with watch:``.

    Each event is waited for at most ``timeout`` seconds (``TimeoutError``: the watch goes on,
    iterate again to wait more). Leaving ``with``, ``close()``, or closing the poller or the
    client ends it.
    """

    def __init__(self, poller: Poller, watch: AsyncWatch, timeout: float | None) -> None:
        self._poller, self._watch, self.timeout = poller, watch, timeout
        #: Events read in one trip to the loop and not handed out yet, and what ended the
        #: trip early (an error, or the end), said once they are out. A named watch reads
        #: one event a trip: asking for the next acknowledges the last.
        self._read: deque[Event] = deque()
        self._then: BaseException | None = None
        #: What this watch handed out, per job (``summary``).
        self._told = Told()

    def __repr__(self) -> str:
        return f"<sync Watch of {len(self._watch.jobs)} job(s)>"

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> Event:
        if self._poller.closed:
            raise RuntimeError("this watch's Poller is closed")
        if not self._read and self._then is None:
            most = 1 if self._watch.name is not None else _BATCH
            try:
                read, self._then = self._poller._wait(
                    _ready, self._watch, most, timeout=self.timeout
                )
            except StopAsyncIteration:
                raise StopIteration from None
            self._read += read
        if self._read:
            event = self._read.popleft()
            self._told.feed(event)
            return event
        then, self._then = self._then, None
        if isinstance(then, StopAsyncIteration):
            raise StopIteration from None
        assert then is not None
        raise then

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def jobs(self) -> tuple[int, ...]:
        """Every job the watch holds, finished or not, in the order added."""
        return self._watch.jobs

    def summary(self) -> WatchSummary:
        """What this watch has handed out so far (``bkjob_async.polling.Watch.summary``)."""
        return self._told.summary(self._watch.jobs)

    @property
    def unfinished(self) -> frozenset[int]:
        """Jobs whose last event has not come yet."""
        return self._watch.unfinished

    @property
    def name(self) -> str | None:
        """The name of a durable watch (``None``: not named)."""
        return self._watch.name

    def add(self, scope: Scope, job_instance_ids: Iterable[int], *, launched: bool = False) -> None:
        """Watch more jobs too (``launched``: as ``bkjob_async.Watch.add``)."""
        add = functools.partial(self._watch.add, launched=launched)
        self._poller._wait(add, scope, job_instance_ids)

    def remove(self, scope: Scope, job_instance_ids: Iterable[int]) -> None:
        """Stop watching these jobs."""
        self._poller._wait(self._watch.remove, scope, job_instance_ids)

    def ack(self, event: Event) -> None:
        """Acknowledge ``event`` now (a durable watch: once it is on disk)."""
        self._poller._wait(self._watch.ack, event)

    def close(self) -> None:
        """Stop watching (the jobs no other watch holds are no longer polled)."""
        if not self._poller.closed:
            self._poller._wait(self._watch.aclose)


#: The most events a watch hands over in one trip to the loop (those already received).
_BATCH = 256


async def _ready(watch: AsyncWatch, most: int) -> tuple[list[Event], BaseException | None]:
    """Wait for ``watch``'s next event, then take up to ``most`` in all of those it has
    received already (no more waiting); return them and what stopped the taking early."""
    events = [await watch.__anext__()]
    try:
        while len(events) < most and watch.pending:
            events.append(await watch.__anext__())
    except (Exception, StopAsyncIteration) as exc:  # (said after the events before it)
        return events, exc
    return events, None


class Completed:
    """A blocking ``Poller.as_completed``: each job's final ``JobInstanceStatus`` as it
    finishes (``for status in completed:``), each waited for at most ``timeout`` seconds."""

    def __init__(self, poller: Poller, completed: AsyncCompleted, timeout: float | None) -> None:
        self._poller, self._completed, self.timeout = poller, completed, timeout

    def __iter__(self) -> Completed:
        return self

    def __next__(self) -> JobInstanceStatus:
        try:
            status: JobInstanceStatus = self._poller._wait(
                self._completed.__anext__, timeout=self.timeout
            )
        except StopAsyncIteration:
            raise StopIteration from None
        return status

    def __enter__(self) -> Completed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def unfinished(self) -> frozenset[int]:
        """Jobs whose final status has not come yet."""
        return self._completed.unfinished

    def add(self, scope: Scope, job_instance_ids: Iterable[int], *, launched: bool = False) -> None:
        """Wait for more jobs too (``launched``: as ``bkjob_async.Watch.add``)."""
        add = functools.partial(self._completed.add, launched=launched)
        self._poller._wait(add, scope, job_instance_ids)

    def close(self) -> None:
        """Stop watching the jobs that have not finished."""
        if not self._poller.closed:
            self._poller._wait(self._completed.aclose)


class Rollout:
    """A blocking ``bkjob_async.polling.Rollout`` (``Poller.rollout``): ``with`` it, ``submit``
    keys from the calling thread, then ``for event in rollout:``.

    Its events are the async rollout's (``Launched``, ``LaunchFailed``, ``LaunchTimedOut``, the
    jobs' transitions and ``JobFinished``), each waited for at most ``timeout`` seconds
    (``TimeoutError``: the rollout goes on, iterate again to wait more). The rollout runs in the
    loop thread from ``with`` to its end; leaving ``with`` early, ``close()`` or closing the
    poller stops it (its jobs run on in bk-job; a durable store keeps where it was).
    """

    def __init__(self, poller: Poller, rollout: AsyncRollout, timeout: float | None) -> None:
        self._poller, self._rollout, self.timeout = poller, rollout, timeout
        self._context = poller._portal.wrap_async_context_manager(rollout)
        self._state = "new"
        #: Events read in one trip to the loop and not handed out yet, and what ended the trip.
        self._read: deque[Any] = deque()
        self._then: BaseException | None = None

    def __repr__(self) -> str:
        return f"<sync Rollout {self._rollout.key!r} {self._state}>"

    def __enter__(self) -> Rollout:
        if self._state != "new":
            raise RuntimeError("a Rollout can be entered only once")
        self._poller._wait(lambda: None)  # (refused here: a closed poller, a loop, a fork)
        self._context.__enter__()
        self._state = "open"
        self._poller._rollouts.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def key(self) -> str:
        """The rollout's key (its name in the poller's store)."""
        return self._rollout.key

    def _open(self) -> AsyncRollout:
        if self._state != "open":
            raise RuntimeError(
                "use the rollout inside 'with poller.rollout(...)'"
                if self._state == "new"
                else "this rollout is closed"
            )
        return self._rollout

    def submit(self, key: str, launch: Launch, *, deadline: float | None = None) -> bool:
        """Queue ``launch`` under ``key`` (``bkjob_async.polling.Rollout.submit``); ``False`` if
        the key is held already. Bad arguments raise here, before any request."""
        submit = functools.partial(self._open().submit, deadline=deadline)
        done: bool = self._poller._wait(submit, key, launch)
        return done

    def __iter__(self) -> Rollout:
        return self

    def __next__(self) -> Any:
        rollout = self._open()
        if not self._read and self._then is None:
            try:
                read, self._then = self._poller._wait(
                    _rollout_ready, rollout, _BATCH, timeout=self.timeout
                )
            except StopAsyncIteration:
                raise StopIteration from None
            self._read += read
        if self._read:
            return self._read.popleft()
        then, self._then = self._then, None
        if isinstance(then, StopAsyncIteration):
            raise StopIteration from None
        assert then is not None
        raise then

    def statistics(self) -> RolloutStatistics:
        """What the rollout has done so far (``bkjob_async.polling.Rollout.statistics``)."""
        stats: RolloutStatistics = self._poller._wait(self._open().statistics)
        return stats

    def close(self) -> None:
        """Stop the rollout: what it has not launched is not launched (a durable store keeps it
        for the next ``rollout`` with this key); its jobs run on in bk-job."""
        if self._state != "open":
            self._state = "closed"
            return
        self._state = "closed"
        self._poller._rollouts.discard(self)
        if os.getpid() == self._poller._pid:
            self._context.__exit__(None, None, None)


async def _rollout_ready(
    rollout: AsyncRollout, most: int
) -> tuple[list[Any], BaseException | None]:
    """Wait for ``rollout``'s next event, then take up to ``most`` in all of those received
    already; return them and what stopped the taking early (the end)."""
    events = [await rollout.__anext__()]
    try:
        while len(events) < most:
            events.append(rollout.receive_nowait())
    except WouldBlock:
        pass
    except StopAsyncIteration as exc:  # (said after the events before it)
        return events, exc
    return events, None


class Poller:
    """A blocking ``bkjob_async.Poller`` on a sync ``BkJobClient``: the same arguments
    (``policy``, ``store``, ...) and methods; watches are plain iterators.

    Use it as ``with Poller(client) as poller:`` (or ``close()`` it); it polls in the loop
    thread, in the background, from the moment it is made until it is closed. A ``store``
    (``SqliteStore(path)``, not opened: sync code has no loop to open it in) is opened in the
    loop thread with the poller and closed with it.
    """

    def __init__(self, client: BkJobClient, **kwargs: Any) -> None:
        if not isinstance(client, BkJobClient):
            raise TypeError(
                f"client must be a bkjob_async.sync.BkJobClient, not {type(client).__name__}"
            )
        portal, inner = client._loop()
        self._client, self._portal, self._pid = client, portal, os.getpid()
        made = portal.call(functools.partial(_poller.Poller, inner, **kwargs))
        self._store = kwargs.get("store")
        if self._store is not None:
            portal.call(self._store.open)
        self._context = portal.wrap_async_context_manager(made)
        try:
            self._poller: _poller.Poller = self._context.__enter__()
        except BaseException:
            if self._store is not None:
                portal.call(self._store.aclose)
            raise
        self._closed = False
        #: Rollouts open on this poller: stopped before it closes (each holds a loop task).
        self._rollouts: set[Rollout] = set()
        client._pollers.add(self)
        _LOOP.pollers.add(self)

    def __repr__(self) -> str:
        return f"<sync Poller{' closed' if self._closed else ''}>"

    def __enter__(self) -> Poller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether the poller (or its client) was closed."""
        return self._closed

    def _wait(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> Any:
        _refuse_in_a_loop()
        if self._closed:
            raise RuntimeError("this Poller is closed")
        if os.getpid() != self._pid:
            raise RuntimeError(
                "this Poller was made in another process (before a fork): make one in this process"
            )
        return _wait(self._portal, fn, *args, timeout=timeout)

    def close(self) -> None:
        """Stop polling; every watch of this poller ends."""
        if self._closed or os.getpid() != self._pid:
            return
        for rollout in list(self._rollouts):
            rollout.close()
        self._closed = True
        _LOOP.pollers.discard(self)
        try:
            self._context.__exit__(None, None, None)
        finally:
            if self._store is not None:
                self._portal.call(self._store.aclose)

    def watch_job(
        self,
        scope: Scope,
        job_instance_id: int,
        *,
        launched: bool = False,
        timeout: float | None = None,
    ) -> Watch:
        """Watch one job until ``JobFinished`` (``bkjob_async.Poller.watch_job``); each event
        is waited for at most ``timeout`` seconds."""
        watch_job = functools.partial(self._poller.watch_job, launched=launched)
        watch = self._wait(watch_job, scope, job_instance_id)
        return Watch(self, watch, timeout)

    def watch_jobs(
        self,
        scope: Scope,
        job_instance_ids: Iterable[int],
        *,
        events: Iterable[type[Event]] | None = None,
        name: str | None = None,
        launched: bool = False,
        timeout: float | None = None,
    ) -> Watch:
        """Watch many jobs on one stream (``bkjob_async.Poller.watch_jobs``); each event is
        waited for at most ``timeout`` seconds."""
        watch = self._wait(
            functools.partial(self._poller.watch_jobs, events=events, name=name, launched=launched),
            scope,
            list(job_instance_ids),
        )
        return Watch(self, watch, timeout)

    def watch_step(
        self,
        scope: Scope,
        job_instance_id: int,
        step_instance_id: int,
        *,
        timeout: float | None = None,
    ) -> Watch:
        """Watch one step's hosts until it ends (``bkjob_async.Poller.watch_step``)."""
        watch = self._wait(self._poller.watch_step, scope, job_instance_id, step_instance_id)
        return Watch(self, watch, timeout)

    def resume(
        self,
        name: str,
        *,
        events: Iterable[type[Event]] | None = None,
        timeout: float | None = None,
    ) -> Watch:
        """Reopen the named watch ``name`` from the store (``bkjob_async.Poller.resume``)."""
        watch = self._wait(functools.partial(self._poller.resume, name, events=events))
        return Watch(self, watch, timeout)

    def wait_finished(
        self,
        scope: Scope,
        job_instance_id: int,
        *,
        with_hosts: bool = False,
        success: Iterable[int] | None = None,
        timeout: float | None = None,
    ) -> JobInstanceStatus:
        """Return the final status of a job once it finishes (``with_hosts`` and ``success`` as
        ``bkjob_async.Poller.wait_finished``); ``TimeoutError`` after ``timeout`` seconds (the
        job is no longer waited for)."""
        wait = functools.partial(self._poller.wait_finished, with_hosts=with_hosts, success=success)
        status: JobInstanceStatus = self._wait(wait, scope, job_instance_id, timeout=timeout)
        return status

    def as_completed(
        self,
        scope: Scope,
        job_instance_ids: Iterable[int],
        *,
        launched: bool = False,
        with_hosts: bool = False,
        timeout: float | None = None,
    ) -> Completed:
        """Each job's final status as it finishes (``bkjob_async.Poller.as_completed``)."""
        as_completed = functools.partial(
            self._poller.as_completed, launched=launched, with_hosts=with_hosts
        )
        completed = self._wait(as_completed, scope, list(job_instance_ids))
        return Completed(self, completed, timeout)

    def rollout(
        self,
        scope: Scope,
        *,
        key: str,
        max_running: int | None = None,
        deadline: float | None = None,
        exactly_once: bool | None = None,
        on_deadline: Literal["terminate", "leave"] = "terminate",
        events: Iterable[type[Event]] | None = None,
        timeout: float | None = None,
    ) -> Rollout:
        """Return a rollout of launches in ``scope`` (``bkjob_async.Poller.rollout``): ``with
        poller.rollout(scope, key="deploy-42", max_running=50) as rollout:``, then
        ``rollout.submit(item, Launch.script(...))`` and ``for event in rollout``; each event is
        waited for at most ``timeout`` seconds."""
        made = functools.partial(
            self._poller.rollout,
            key=key,
            max_running=max_running,
            deadline=deadline,
            exactly_once=exactly_once,
            on_deadline=on_deadline,
            events=events,
        )
        return Rollout(self, self._wait(made, scope), timeout)

    def follow(self, scope: Scope, job_instance_id: int) -> None:
        """Poll a job with no watch (``bkjob_async.Poller.follow``)."""
        self._wait(self._poller.follow, scope, job_instance_id)

    def unfollow(self, scope: Scope, job_instance_id: int) -> None:
        """Stop polling a followed job (``bkjob_async.Poller.unfollow``)."""
        self._wait(self._poller.unfollow, scope, job_instance_id)

    def hint(self, callback: Callback | int) -> None:
        """A job's end may have come: poll it soon (``bkjob_async.Poller.hint``)."""
        self._wait(self._poller.hint, callback)

    def statistics(self) -> PollerStatistics:
        """What the poller has done so far (``bkjob_async.Poller.statistics``)."""
        stats: PollerStatistics = self._wait(self._poller.statistics)
        return stats


def failed_hosts(
    client: BkJobClient,
    scope: Scope,
    ended: Iterable[JobFinished | JobInstanceStatus],
    *,
    at_once: int = 16,
) -> tuple[FailedHost, ...]:
    """Return the failed hosts of ended jobs (``bkjob_async.failed_hosts``, blocking)."""
    return _read_failed(_failed_hosts, client, scope, ended, at_once)


def failed_containers(
    client: BkJobClient,
    scope: Scope,
    ended: Iterable[JobFinished | JobInstanceStatus],
    *,
    at_once: int = 16,
) -> tuple[FailedContainer, ...]:
    """Return the failed containers of ended jobs (``bkjob_async.failed_containers``, blocking)."""
    return _read_failed(_failed_containers, client, scope, ended, at_once)


def check_job(
    client: BkJobClient,
    scope: Scope,
    job_instance_id: int,
    state: Mapping[str, Any] | None = None,
    *,
    success: frozenset[JobStatus] | set[int] = DEFAULT_SUCCESS,
) -> Check:
    """Read a job's status and ``check`` it against ``state`` (``bkjob_async.polling.check_job``,
    blocking): the events since the state stored last time, and the state to store."""
    portal, inner = client._loop()
    check = functools.partial(_check_job, success=success)
    found: Check = _wait(portal, check, inner, scope, job_instance_id, state)
    return found


def check_jobs(
    client: BkJobClient,
    scope: Scope,
    state: Mapping[str, Any] | Iterable[int],
    *,
    deadline: _dt.datetime | None = None,
    success: Iterable[int] = DEFAULT_SUCCESS,
    callback: Callback | None = None,
    logs: bool = False,
    now: _dt.datetime | None = None,
) -> JobChecks:
    """Check every job ``state`` holds (``bkjob_async.polling.check_jobs``, blocking): one
    job-list read, then hosts (and logs) of the jobs that ended; the state to store."""
    portal, inner = client._loop()
    checks = functools.partial(
        _check_jobs,
        deadline=deadline,
        success=success,
        callback=callback,
        logs=logs,
        now=now,
    )
    found: JobChecks = _wait(portal, checks, inner, scope, state)
    return found


def check_rollout(
    client: BkJobClient, state: Mapping[str, Any], *, now: float | None = None
) -> RolloutCheck:
    """Visit a rollout kept as JSON ``state`` once (``bkjob_async.polling.check_rollout``,
    blocking): one job-list read, the launches that fit; its events and the state to store."""
    portal, inner = client._loop()
    found: RolloutCheck = _wait(portal, functools.partial(_check_rollout, inner, state, now=now))
    return found


def _read_failed(
    read: Callable[..., Awaitable[T]],
    client: BkJobClient,
    scope: Scope,
    ended: Iterable[JobFinished | JobInstanceStatus],
    at_once: int,
) -> T:
    portal, inner = client._loop()
    found: T = _wait(portal, functools.partial(read, inner, scope, list(ended), at_once=at_once))
    return found
