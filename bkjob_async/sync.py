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

There is one implementation: every method runs the async one (``bkjob_async.BkJobClient``,
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
import inspect
import os
import re
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from anyio import CancelScope
from anyio.from_thread import BlockingPortal, BlockingPortalProvider

from . import client as _client
from . import compat as _compat
from .compat import Compat
from .polling import poller as _poller
from .polling._summary import FailedContainer, FailedHost, Summarizer, WatchSummary
from .polling._summary import failed_containers as _failed_containers
from .polling._summary import failed_hosts as _failed_hosts
from .polling.checks import Check
from .polling.checks import check_job as _check_job

if TYPE_CHECKING:
    from ._protocol import Request
    from .config import ApiFlavor, Scope
    from .models import JobInstanceStatus
    from .polling._statistics import PollerStatistics
    from .polling._watch import Completed as AsyncCompleted
    from .polling._watch import Watch as AsyncWatch
    from .polling.callbacks import Callback
    from .polling.events import Event, JobFinished

__all__ = [
    "BkJobClient",
    "Completed",
    "Poller",
    "Watch",
    "check_job",
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


def _blocking(
    method: Callable[Concatenate[_client.BkJobClient, P], Awaitable[T]],
) -> Callable[Concatenate[BkJobClient, P], T]:
    """Return the blocking form of the async client's ``method``: same name, parameters,
    documentation and return."""
    name = method.__name__

    def call(self: BkJobClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        portal, client = self._loop()
        result: T = _wait(portal, functools.partial(getattr(client, name), *args, **kwargs))
        return result

    functools.update_wrapper(call, method)
    call.__qualname__ = f"BkJobClient.{name}"
    return call


def _blocking_pages(
    method: Callable[Concatenate[_client.BkJobClient, P], AsyncIterator[T]],
) -> Callable[Concatenate[BkJobClient, P], Iterator[T]]:
    """Return the blocking form of the async client's paging ``method`` (an async
    generator): a generator of the same items, each page read in the loop when needed."""
    name = method.__name__

    def pages(self: BkJobClient, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        portal, client = self._loop()
        yield from _iterate(portal, getattr(client, name)(*args, **kwargs))

    functools.update_wrapper(pages, method)
    pages.__qualname__ = f"BkJobClient.{name}"
    # Its return is a plain iterator of the same items, not the async method's AsyncIterator:
    # say so where ``inspect.signature``, ``typing.get_type_hints`` and the docs read it.
    returned = str(method.__annotations__.get("return", "AsyncIterator[Any]"))
    pages.__annotations__ = {
        **method.__annotations__,
        "return": re.sub(
            r"^(?:collections\.abc\.|typing\.)?AsyncIterator\[", "Iterator[", returned
        ),
    }
    signature = inspect.signature(method)
    pages.__signature__ = signature.replace(  # type: ignore[attr-defined]
        return_annotation=pages.__annotations__["return"]
    )
    return pages


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
                portal = _LOOP.lease()
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
        if self._closed:
            raise RuntimeError("this BkJobClient is closed; create a new one")
        identity = {"username": username, "bk_token": bk_token, "access_token": access_token}
        return _View(self, identity, language)

    as_user.__doc__ = _client.BkJobClient.as_user.__doc__

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
            _LOOP.release()

    send = _blocking(_client.BkJobClient.send)
    call = _blocking(_client.BkJobClient.call)
    get_job_instance_status = _blocking(_client.BkJobClient.get_job_instance_status)
    get_step_instance_status = _blocking(_client.BkJobClient.get_step_instance_status)
    operate_step_instance = _blocking(_client.BkJobClient.operate_step_instance)
    operate_job_instance = _blocking(_client.BkJobClient.operate_job_instance)
    fast_execute_script = _blocking(_client.BkJobClient.fast_execute_script)
    fast_transfer_file = _blocking(_client.BkJobClient.fast_transfer_file)
    execute_job_plan = _blocking(_client.BkJobClient.execute_job_plan)
    get_job_instance_ip_log = _blocking(_client.BkJobClient.get_job_instance_ip_log)
    batch_get_job_instance_ip_log = _blocking(_client.BkJobClient.batch_get_job_instance_ip_log)
    batch_get_job_instance_execute_object_log = _blocking(
        _client.BkJobClient.batch_get_job_instance_execute_object_log
    )
    get_job_template_detail = _blocking(_client.BkJobClient.get_job_template_detail)
    create_job_plan = _blocking(_client.BkJobClient.create_job_plan)
    get_user_authorized_scopes = _blocking(_client.BkJobClient.get_user_authorized_scopes)
    get_script_task_context = _blocking(_client.BkJobClient.get_script_task_context)
    get_file_task_context = _blocking(_client.BkJobClient.get_file_task_context)
    get_job_instance_list = _blocking(_client.BkJobClient.get_job_instance_list)
    failed_host_logs = _blocking(_client.BkJobClient.failed_host_logs)
    failed_container_logs = _blocking(_client.BkJobClient.failed_container_logs)
    push_config_file = _blocking(_client.BkJobClient.push_config_file)
    get_job_instance_global_var_value = _blocking(
        _client.BkJobClient.get_job_instance_global_var_value
    )
    get_job_instance_log = _blocking(_client.BkJobClient.get_job_instance_log)
    get_job_plan_list = _blocking(_client.BkJobClient.get_job_plan_list)
    get_job_plan_detail = _blocking(_client.BkJobClient.get_job_plan_detail)
    get_account_list = _blocking(_client.BkJobClient.get_account_list)
    get_script_list = _blocking(_client.BkJobClient.get_script_list)
    get_script_version_detail = _blocking(_client.BkJobClient.get_script_version_detail)
    get_public_script_list = _blocking(_client.BkJobClient.get_public_script_list)
    get_public_script_version_detail = _blocking(
        _client.BkJobClient.get_public_script_version_detail
    )
    create_file_source = _blocking(_client.BkJobClient.create_file_source)
    update_file_source = _blocking(_client.BkJobClient.update_file_source)
    get_file_source_detail = _blocking(_client.BkJobClient.get_file_source_detail)
    create_credential = _blocking(_client.BkJobClient.create_credential)
    update_credential = _blocking(_client.BkJobClient.update_credential)
    get_credential_detail = _blocking(_client.BkJobClient.get_credential_detail)
    generate_local_file_upload_url = _blocking(_client.BkJobClient.generate_local_file_upload_url)
    create_account = _blocking(_client.BkJobClient.create_account)
    update_account = _blocking(_client.BkJobClient.update_account)
    delete_account = _blocking(_client.BkJobClient.delete_account)
    get_account_password_encryption_metadata = _blocking(
        _client.BkJobClient.get_account_password_encryption_metadata
    )
    get_own_db_account_list = _blocking(_client.BkJobClient.get_own_db_account_list)
    get_job_template_list = _blocking(_client.BkJobClient.get_job_template_list)
    get_step_instance_detail = _blocking(_client.BkJobClient.get_step_instance_detail)
    fast_execute_sql = _blocking(_client.BkJobClient.fast_execute_sql)
    get_notify_config = _blocking(_client.BkJobClient.get_notify_config)
    get_latest_service_version = _blocking(_client.BkJobClient.get_latest_service_version)
    get_cron_list = _blocking(_client.BkJobClient.get_cron_list)
    get_cron_detail = _blocking(_client.BkJobClient.get_cron_detail)
    save_cron = _blocking(_client.BkJobClient.save_cron)
    update_cron_status = _blocking(_client.BkJobClient.update_cron_status)
    delete_cron = _blocking(_client.BkJobClient.delete_cron)
    iter_crons = _blocking_pages(_client.BkJobClient.iter_crons)
    iter_job_instances = _blocking_pages(_client.BkJobClient.iter_job_instances)
    iter_job_plans = _blocking_pages(_client.BkJobClient.iter_job_plans)
    iter_accounts = _blocking_pages(_client.BkJobClient.iter_accounts)
    get_script_version_list = _blocking(_client.BkJobClient.get_script_version_list)
    get_public_script_version_list = _blocking(_client.BkJobClient.get_public_script_version_list)
    get_script_detail = _blocking(_client.BkJobClient.get_script_detail)
    create_script = _blocking(_client.BkJobClient.create_script)
    create_public_script = _blocking(_client.BkJobClient.create_public_script)
    create_script_version = _blocking(_client.BkJobClient.create_script_version)
    create_public_script_version = _blocking(_client.BkJobClient.create_public_script_version)
    update_script_basic = _blocking(_client.BkJobClient.update_script_basic)
    update_public_script_basic = _blocking(_client.BkJobClient.update_public_script_basic)
    update_script_version = _blocking(_client.BkJobClient.update_script_version)
    update_public_script_version = _blocking(_client.BkJobClient.update_public_script_version)
    publish_script_version = _blocking(_client.BkJobClient.publish_script_version)
    publish_public_script_version = _blocking(_client.BkJobClient.publish_public_script_version)
    disable_script_version = _blocking(_client.BkJobClient.disable_script_version)
    disable_public_script_version = _blocking(_client.BkJobClient.disable_public_script_version)
    delete_script = _blocking(_client.BkJobClient.delete_script)
    delete_public_script = _blocking(_client.BkJobClient.delete_public_script)
    delete_script_version = _blocking(_client.BkJobClient.delete_script_version)
    delete_public_script_version = _blocking(_client.BkJobClient.delete_public_script_version)
    check_script = _blocking(_client.BkJobClient.check_script)
    get_dangerous_rule_list = _blocking(_client.BkJobClient.get_dangerous_rule_list)
    create_dangerous_rule = _blocking(_client.BkJobClient.create_dangerous_rule)
    update_dangerous_rule = _blocking(_client.BkJobClient.update_dangerous_rule)
    delete_dangerous_rule = _blocking(_client.BkJobClient.delete_dangerous_rule)
    enable_dangerous_rule = _blocking(_client.BkJobClient.enable_dangerous_rule)
    disable_dangerous_rule = _blocking(_client.BkJobClient.disable_dangerous_rule)
    iter_scripts = _blocking_pages(_client.BkJobClient.iter_scripts)
    iter_script_versions = _blocking_pages(_client.BkJobClient.iter_script_versions)
    iter_job_templates = _blocking_pages(_client.BkJobClient.iter_job_templates)


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
        self._told = Summarizer()

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

    def add(self, scope: Scope, job_instance_ids: Iterable[int]) -> None:
        """Watch more jobs too."""
        self._poller._wait(self._watch.add, scope, job_instance_ids)

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

    def add(self, scope: Scope, job_instance_ids: Iterable[int]) -> None:
        """Wait for more jobs too."""
        self._poller._wait(self._completed.add, scope, job_instance_ids)

    def close(self) -> None:
        """Stop watching the jobs that have not finished."""
        if not self._poller.closed:
            self._poller._wait(self._completed.aclose)


class Poller:
    """A blocking ``bkjob_async.Poller`` on a sync ``BkJobClient``: the same arguments
    (``policy``, ``store``, ...) and methods; watches are plain iterators.

    Use it as ``with Poller(client) as poller:`` (or ``close()`` it); it polls in the loop
    thread, in the background, from the moment it is made until it is closed.
    """

    def __init__(self, client: BkJobClient, **kwargs: Any) -> None:
        if not isinstance(client, BkJobClient):
            raise TypeError(
                f"client must be a bkjob_async.sync.BkJobClient, not {type(client).__name__}"
            )
        portal, inner = client._loop()
        self._client, self._portal, self._pid = client, portal, os.getpid()
        made = portal.call(functools.partial(_poller.Poller, inner, **kwargs))
        self._context = portal.wrap_async_context_manager(made)
        self._poller: _poller.Poller = self._context.__enter__()
        self._closed = False
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
        self._closed = True
        _LOOP.pollers.discard(self)
        self._context.__exit__(None, None, None)

    def watch_job(
        self, scope: Scope, job_instance_id: int, *, timeout: float | None = None
    ) -> Watch:
        """Watch one job until ``JobFinished`` (``bkjob_async.Poller.watch_job``); each event
        is waited for at most ``timeout`` seconds."""
        watch = self._wait(self._poller.watch_job, scope, job_instance_id)
        return Watch(self, watch, timeout)

    def watch_jobs(
        self,
        scope: Scope,
        job_instance_ids: Iterable[int],
        *,
        events: Iterable[type[Event]] | None = None,
        name: str | None = None,
        timeout: float | None = None,
    ) -> Watch:
        """Watch many jobs on one stream (``bkjob_async.Poller.watch_jobs``); each event is
        waited for at most ``timeout`` seconds."""
        watch = self._wait(
            functools.partial(self._poller.watch_jobs, events=events, name=name),
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
        self, scope: Scope, job_instance_id: int, *, timeout: float | None = None
    ) -> JobInstanceStatus:
        """Return the final status of a job once it finishes; ``TimeoutError`` after
        ``timeout`` seconds (the job is no longer waited for)."""
        status: JobInstanceStatus = self._wait(
            self._poller.wait_finished, scope, job_instance_id, timeout=timeout
        )
        return status

    def as_completed(
        self, scope: Scope, job_instance_ids: Iterable[int], *, timeout: float | None = None
    ) -> Completed:
        """Each job's final status as it finishes (``bkjob_async.Poller.as_completed``)."""
        completed = self._wait(self._poller.as_completed, scope, list(job_instance_ids))
        return Completed(self, completed, timeout)

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
) -> Check:
    """Read a job's status and ``check`` it against ``state`` (``bkjob_async.polling.check_job``,
    blocking): the events since the state stored last time, and the state to store."""
    portal, inner = client._loop()
    found: Check = _wait(portal, _check_job, inner, scope, job_instance_id, state)
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
