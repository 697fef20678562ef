"""The ``BkJobClient`` facade: one typed ``async`` method per bk-job API, and ``call``.

Rule: a method that only sends its row is generated, never edited. The lines between the
``generated`` markers are written by ``scripts/gen_facades.py`` (``make facades``) from the
endpoint table (``bkjob_async._protocol``): each method's parameters are its row's spellings',
its return its reader's, its docstring the row's ``doc``; the row spells the request (checking
the arguments before anything is sent), the transport seam sends it (retrying what is safe to
retry), and the row reads the answer into models. A method that does more (paging, filters,
several APIs) is written by hand outside them. ``call`` sends any API by bk-job's own name and
parameters.
"""

from __future__ import annotations

import copy
import difflib
import enum
import functools
import inspect
import random
import typing
import warnings
import zoneinfo
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

import anyio
import anyio.abc
import attrs

from ._aiohttp import DEFAULT_MAX_BODY_SIZE, AiohttpTransport
from ._checks import check_bool
from ._params import MAX_LOG_HOSTS
from ._protocol import (
    CREDENTIAL_PARAMS,
    TABLE,
    Api,
    Batches,
    Protocol,
    Request,
    accounts,
    analysis,
    catalog,
    crons,
    files,
    jobs,
    launches,
    logs,
    rules,
    scripts,
    settings,
    sql,
    templates,
)
from ._protocol._table import V2_NAMES
from ._tls import proxy_password
from ._transport import Instrument, Sleep, Transport, call, wrapped
from .compat import Compat
from .compat import send as compat_send
from .config import (
    DEFAULT_SERVER_TZ,
    ApiFlavor,
    Credentials,
    RetryPolicy,
    Scope,
    Timeouts,
    check_id,
)
from .models import DEFAULT_SUCCESS, HostLog, HostStatus, JobResult, LogType, StepType
from .models.enums import check_success

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

    import aiohttp

    from ._tls import ClientCert, SslOption
    from .models import (
        ContainerResult,
        CronJob,
        CronPage,
        ExecuteObjectLog,
        ExecutionAccount,
        Host,
        HostResult,
        JobInstancePage,
        JobInstanceStatus,
        JobInstanceSummary,
        JobPlan,
        JobPlanPage,
        JobTemplate,
        Script,
        ScriptPage,
        ScriptVersion,
        ScriptVersionPage,
        StepInstance,
    )

# --- generated imports (scripts/gen_facades.py, `make facades`): do not edit ---
from .models import AccountCategory, ScriptLanguage
from .models.files import FileSourceType

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._params import HostRef
    from .models import (
        AccountPage,
        AccountType,
        AuthorizedScopePage,
        CreatedJobPlan,
        CronStatus,
        DangerousRule,
        DangerousRuleAction,
        DangerousRuleState,
        FileLogMode,
        JobLaunch,
        JobOperation,
        JobStatus,
        JobTemplateDetail,
        JobVariables,
        LaunchMode,
        ScriptCheckItem,
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

__all__ = ["BkJobClient"]

T = TypeVar("T")
P = ParamSpec("P")
T_co = TypeVar("T_co", covariant=True)
R = TypeVar("R", "HostResult", "ContainerResult")
C = TypeVar("C", bound=type)


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


def _hinted(cls: C) -> C:
    """Give each public method of ``cls`` a ``TypeError`` that, for a keyword it does not take,
    names the parameter most likely meant (``did you mean task_name=?``)."""
    for name, value in list(vars(cls).items()):
        if name.startswith("_"):
            continue
        if inspect.iscoroutinefunction(value):
            setattr(cls, name, _hint_coroutine(value))
        elif inspect.isfunction(value):
            setattr(cls, name, _hint_function(value))
    return cls


def _hint_coroutine(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(fn)
    async def method(*args: Any, **kwargs: Any) -> Any:
        try:
            running = fn(*args, **kwargs)  # (binds the arguments, runs nothing yet)
        except TypeError as exc:
            raise _hint(exc, fn, kwargs) from None
        return await running

    return method


def _hint_function(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def method(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TypeError as exc:
            try:
                inspect.signature(fn).bind(*args, **kwargs)
            except TypeError:
                raise _hint(exc, fn, kwargs) from None
            raise  # (raised inside: not a wrong call)

    return method


def _hint(exc: TypeError, fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> TypeError:
    """Return ``exc`` with the parameter a wrong keyword most likely meant."""
    names = [p for p in inspect.signature(fn).parameters if p != "self"]
    for word in kwargs:
        if word not in names:
            near = difflib.get_close_matches(word, names, n=1, cutoff=0.5)
            near = near or [n for n in names if word in n.split("_")][:1]
            hint = f" (did you mean {near[0]}=?)" if near else ""
            return TypeError(
                f"{fn.__qualname__}() got an unexpected keyword argument {word!r}{hint}"
            )
    return exc


def acting(
    protocol: Protocol,
    username: str | None,
    bk_token: str | None,
    access_token: str | None,
    language: str | None,
) -> Protocol:
    """Return ``protocol`` acting as the identity given, in ``language`` (``None``: its own)."""
    credentials = Credentials(
        protocol.credentials.app_code,
        protocol.credentials.app_secret,
        username,
        bk_token,
        access_token,
    )
    return protocol.with_identity(
        credentials, language=protocol.language if language is None else language
    )


def _zone(name: object) -> _dt.tzinfo:
    """Return the IANA zone ``name``, checked as bk-job checks the time-zone header."""
    if not isinstance(name, str) or not name:
        raise TypeError("user_timezone must be a non-empty str such as 'Asia/Shanghai'")
    try:
        return zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise ValueError(
            f"user_timezone must be an IANA time zone such as 'Asia/Shanghai', got {name!r} "
            "(bk-job refuses an unknown one with 1247005)"
        ) from None


def _identity_text(credentials: Credentials) -> str:
    """Say who ``credentials`` act as, their tokens masked."""
    parts = [] if credentials.username is None else [f"user {credentials.username!r}"]
    parts += [
        f"{name}=***"
        for name in ("bk_token", "access_token")
        if getattr(credentials, name) is not None
    ]
    return ", ".join(parts)


def _call_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check ``call``'s parameters: a mapping of names, without credentials."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise TypeError(
            f"params must be a mapping of bk-job's parameters, not {type(params).__name__}"
        )
    for key in params:
        if not isinstance(key, str):
            raise TypeError(f"parameter names are str, not {type(key).__name__}")
        if key in CREDENTIAL_PARAMS:
            raise ValueError(
                f"{key} is a credential: the client sends its own in the X-Bkapi-Authorization "
                "header; leave it out of params"
            )
    return dict(params)


def _network_options(ssl: object, client_cert: object, proxy: object, trust_env: object) -> Any:
    """Return the TLS and proxy options given (not left at their defaults), by name."""
    given = {"ssl": ssl, "client_cert": client_cert, "proxy": proxy, "trust_env": trust_env}
    defaults = {"ssl": True, "client_cert": None, "proxy": None, "trust_env": False}
    return {k: v for k, v in given.items() if v is not defaults[k]}


@_hinted
class BkJobClient(anyio.abc.AsyncResource):
    """An async client for one bk-job server, API flavor and identity.

    Use it as ``async with BkJobClient(...) as client:``. It creates and owns one aiohttp
    session, or borrows ``session=`` and leaves it open. A closed client cannot be reopened.

    :param base_url: the gateway stage URL (``https://bkapi.example.com/api/bk-job/prod``) for
        ``apigw-v3``, or the PaaS URL (``https://paas.example.com``) for the ESB flavors.
    :param flavor: ``"apigw-v3"`` (default), ``"esb-jobv3"`` or ``"esb-v2"``.
    :param username: the user to act as (the app must be whitelisted); or ``bk_token``, or
        ``access_token``.
    :param timeouts: per attempt (``connect``, ``read``, ``total``) and per call (``call``,
        30 s by default: one deadline across every attempt and retry of a call).
    :param retry: how reads retry transient failures; operations and launches retry only when
        the request never reached bk-job.
    :param server_tz: the zone of v2's offset-less time strings (default UTC+08:00).
    :param tenant_id: sent as ``X-Bk-Tenant-Id`` on multi-tenant installs.
    :param user_timezone: an IANA zone name (``"Europe/Paris"``), sent as
        ``X-Bk-Job-User-Timezone``. bk-job writes times in this zone (Asia/Shanghai without
        it). It is also ``server_tz`` unless that is given.
    :param language: the language of bk-job's messages and of the names it gives jobs:
        ``"en"`` (the default, here and on the command line) or ``"zh-cn"``. ``None`` sends
        no ``Blueking-Language`` header, and bk-job answers in Chinese.
    :param connection_limit: the most connections open at once (an ``int`` >= 1).
    :param max_body_size: the largest response body read, in bytes (64 MiB by default); a
        larger one is refused with ``ResponseFormatError`` before it is read (built-in transport).
    :param ssl: how the server's certificate is verified, as aiohttp's ``ssl=`` takes it.
        ``True`` trusts the system's CAs. A CA bundle's path or an ``ssl.SSLContext`` trusts an
        internal CA. ``False`` turns verification off, so it must be asked for by name. A
        certificate that fails raises ``CertificateError``, never retried.
    :param client_cert: a client certificate for mutual TLS: a PEM file with the key, or a
        ``(certificate, key)`` pair of paths.
    :param proxy: an ``http://`` proxy for every request (HTTPS tunnels through it).
    :param trust_env: read the environment as requests does (off by default). Proxies come
        from ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``, the CA bundle from
        ``REQUESTS_CA_BUNDLE``.
    :param instruments: what counts or times every request this client sends:
        ``bkjob_async.metrics.PollerMetrics``, or any object with ``wrap(transport)``. Each
        wraps the transport now, for the client's life and every ``Poller`` of it.

    Every argument is checked here, before anything is sent: a wrong type or an out-of-range
    value raises ``TypeError`` or ``ValueError`` naming it. Secrets are masked in every error,
    log line and ``repr`` (see ``bkjob_async._secrets``; below 8 characters, best effort).
    """

    def __init__(
        self,
        base_url: str,
        *,
        app_code: str,
        app_secret: str,
        username: str | None = None,
        bk_token: str | None = None,
        access_token: str | None = None,
        flavor: ApiFlavor | str = ApiFlavor.APIGW_V3,
        session: aiohttp.ClientSession | None = None,
        timeouts: Timeouts = Timeouts(),
        retry: RetryPolicy = RetryPolicy(),
        server_tz: _dt.tzinfo = DEFAULT_SERVER_TZ,
        tenant_id: str | None = None,
        language: str | None = "en",
        connection_limit: int = 100,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        transport: Transport | None = None,
        sleep: Sleep = anyio.sleep,
        rng: random.Random | None = None,
        ssl: SslOption = True,
        client_cert: ClientCert | None = None,
        proxy: str | None = None,
        trust_env: bool = False,
        instruments: Iterable[Instrument] = (),
        user_timezone: str | None = None,
    ) -> None:
        _check_arguments(timeouts, retry, connection_limit, max_body_size, transport, sleep, rng)
        credentials = Credentials(app_code, app_secret, username, bk_token, access_token)
        if user_timezone is not None and server_tz is DEFAULT_SERVER_TZ:
            server_tz = _zone(user_timezone)
        self.protocol = Protocol(
            base_url,
            flavor=flavor,
            credentials=credentials,
            server_tz=server_tz,
            tenant_id=tenant_id,
            language=language,
            secrets=[proxy_password(proxy)] if isinstance(proxy, str) else (),
            user_timezone=user_timezone,
        )
        if transport is not None and session is not None:
            raise ValueError("pass session= or transport=, not both")
        network = _network_options(ssl, client_cert, proxy, trust_env)
        if transport is not None and network:
            raise ValueError(
                "ssl=, client_cert=, proxy= and trust_env= need the built-in transport"
            )
        self.retry = retry
        #: One deadline for each call, every attempt and wait included (``Timeouts.call``).
        self.call_timeout = timeouts.call
        self.connection_limit = connection_limit
        self.transport: Transport = wrapped(
            transport
            or AiohttpTransport(
                timeouts=timeouts,
                session=session,
                limit=connection_limit,
                max_body_size=max_body_size,
                **network,
            ),
            instruments,
        )
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._state = _State.UNOPENED
        #: The client that owns the session: this one, or the one ``as_user`` was called on.
        self._root = self

    @property
    def flavor(self) -> ApiFlavor:
        """The API generation this client speaks."""
        return self.protocol.flavor

    def __repr__(self) -> str:
        state = self._root._state.value
        acting = "" if self._root is self else f" as {_identity_text(self.protocol.credentials)}"
        return f"<BkJobClient {self.protocol.url('')!r} {self.flavor.value} {state}{acting}>"

    def as_user(
        self,
        username: str | None = None,
        *,
        bk_token: str | None = None,
        access_token: str | None = None,
        language: str | None = None,
    ) -> BkJobClient:
        """Return this client acting as another user: a view over the same session.

        Every method and ``call`` of the view sends the identity given here (a ``username``
        for an app whitelisted to name users, or a user's ``bk_token``, or an
        ``access_token``) in place of this client's, in ``language`` (``None``: this client's).
        The view shares this client's session and connection pool, timeouts, retries and
        instruments; it owns nothing: closing it (or leaving its ``async with``) does nothing,
        and closing this client ends it too. Make one per call if need be (it costs a few
        dictionaries), as the official SDK's ``get_client_by_user(username)`` is made: bk-job
        then checks that user's permissions. Its ``repr`` and errors mask its tokens.

        :raises ValueError: no identity, or a ``language`` that cannot be a header.
        :raises TypeError: an identity that is not a non-empty ``str``.
        """
        if self._root._state is _State.CLOSED:
            raise RuntimeError("this BkJobClient is closed")
        view = copy.copy(self)
        view.protocol = acting(self.protocol, username, bk_token, access_token, language)
        return view

    async def __aenter__(self) -> BkJobClient:
        root = self._root
        if root._state is _State.CLOSED:
            raise RuntimeError("a closed BkJobClient cannot be reopened; create a new one")
        root._state = _State.OPENED
        return self

    async def aclose(self) -> None:
        """Close the session if the client owns it; calls after this raise ``RuntimeError``.

        A view (``as_user``) owns nothing: closing it leaves its client open.
        """
        if self._root is self and self._state is not _State.CLOSED:
            self._state = _State.CLOSED
            with anyio.CancelScope(shield=True):
                await self.transport.aclose()

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if getattr(self, "_root", None) is self and self._state is _State.OPENED:
            _warn(
                f"unclosed {self!r}; use 'async with' or 'await client.aclose()'",
                ResourceWarning,
                stacklevel=1,
            )

    async def send(self, request: Request) -> Any:
        """Send a prepared request with this client's retries; return the envelope's ``data``."""
        self._opened()
        return await call(
            self.transport,
            self.protocol,
            request,
            retry=self.retry,
            sleep=self._sleep,
            rng=self._rng,
            deadline=self.call_timeout,
        )

    def _opened(self) -> None:
        """Raise ``RuntimeError`` if the client is closed; else count it open (it sends)."""
        root = self._root
        if root._state is _State.CLOSED:
            raise RuntimeError("this BkJobClient is closed")
        root._state = _State.OPENED

    @property
    def compat(self) -> Compat[Awaitable[dict[str, Any]]]:
        """The official SDK's shape of this client: ``await client.compat.jobv3.NAME(params)``
        takes the SDK's dictionary and answers its envelope (``bkjob_async.compat``)."""
        return Compat(self, compat_send)

    async def call(
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
        sent = _call_params(params)
        verb = None if method is None else str(method).upper()
        protocol = self.protocol
        row = TABLE.get(api) or V2_NAMES.get(api) if isinstance(api, str) else None
        if row is None or (row.name != api and protocol.flavor is not ApiFlavor.ESB_V2):
            request = protocol.raw(api, sent, method=verb or "POST", idempotent=bool(idempotent))
            return await self.send(request)
        binding = protocol.binding(row)
        if verb is not None and verb != binding.method:
            raise ValueError(
                f"{row.name} is sent with {binding.method} on {self.flavor.value}, not {verb}"
            )
        request = protocol.request(row, sent)
        if idempotent is not None:
            request = attrs.evolve(request, idempotent=bool(idempotent))
        return protocol.answer(row, await self.send(request), sent)

    async def _run(self, api: Api[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Spell ``api`` with a method's arguments, send it, read the answer.

        The row's spellings check the arguments before anything is sent; a call that needs
        several requests (``Batches``) builds every one before the first is sent.
        """
        protocol = self.protocol
        params = protocol.spell(api, *args, **kwargs)
        if isinstance(params, Batches):
            requests = [protocol.request(api, p) for p in params]  # every one checked first
            return protocol.answers(api, [await self.send(r) for r in requests], params)
        return protocol.answer(api, await self.send(protocol.request(api, params)), params)

    # --- generated methods (scripts/gen_facades.py, `make facades`): do not edit ---
    # --- jobs -------------------------------------------------------------------------------------

    async def get_job_instance_status(
        self, scope: Scope, job_instance_id: int, *, with_hosts: bool = True
    ) -> JobInstanceStatus:
        """Return a job's status, its steps and (``with_hosts``) each host of the current round."""
        return await self._run(
            jobs.GET_JOB_INSTANCE_STATUS, scope, job_instance_id, with_hosts=with_hosts
        )

    async def get_step_instance_status(
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
        return await self._run(
            jobs.GET_STEP_INSTANCE_STATUS,
            scope,
            job_instance_id,
            step_instance_id,
            execute_count=execute_count,
            batch=batch,
            max_host_num_per_group=max_host_num_per_group,
            status=status,
            tag=tag,
        )

    async def operate_step_instance(
        self, scope: Scope, job_instance_id: int, step_instance_id: int, operation: StepOperation
    ) -> None:
        """Retry, skip, confirm or ignore a step; raise ``OperationNotAllowedError`` if refused."""
        return await self._run(
            jobs.OPERATE_STEP_INSTANCE, scope, job_instance_id, step_instance_id, operation
        )

    async def operate_job_instance(
        self, scope: Scope, job_instance_id: int, operation: JobOperation
    ) -> None:
        """Terminate a running job, or start one created with ``start_task=False``."""
        return await self._run(jobs.OPERATE_JOB_INSTANCE, scope, job_instance_id, operation)

    async def get_job_instance_list(
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
        return await self._run(
            jobs.GET_JOB_INSTANCE_LIST,
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

    async def iter_job_instances(
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
    ) -> AsyncIterator[JobInstanceSummary]:
        """Yield every job the history list matches, a page at a time, until ``total`` is reached.

        On ``apigw-v4`` a page is 200 jobs at most (bk-job's cap there), whatever ``page_size``.
        The filters are those of ``get_job_instance_list`` (``status``, ``operator``,
        ``name``, ...). A job created while paging shifts the pages; one already yielded is not
        yielded again. Some installs cap ``start`` (``startLimitEnabled``, 1000 by default):
        past it the server answers ``InvalidRequestError``.
        """
        if self.flavor is ApiFlavor.APIGW_V4 and isinstance(page_size, int):
            page_size = min(page_size, 200)  # v4's cap on a page
        async for item in _paged(
            lambda start: self.get_job_instance_list(
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
                length=page_size,
            ),
            lambda item: item.job_instance_id,
        ):
            yield item

    async def get_job_instance_global_var_value(
        self, scope: Scope, job_instance_id: int
    ) -> JobVariables:
        """Return the values a job's string variables held after each step (its outputs).

        bk-job reports string variables only; ``JobVariables.values()`` gives the latest.
        """
        return await self._run(jobs.GET_JOB_INSTANCE_GLOBAL_VAR_VALUE, scope, job_instance_id)

    # --- launches ---------------------------------------------------------------------------------

    async def fast_execute_script(
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
        return await self._run(
            launches.FAST_EXECUTE_SCRIPT,
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

    async def fast_transfer_file(
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
        return await self._run(
            launches.FAST_TRANSFER_FILE,
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

    async def execute_job_plan(
        self,
        scope: Scope,
        job_plan_id: int,
        *,
        global_vars: Sequence[GlobalVar] = (),
        callback_url: str | None = None,
        start_task: bool = True,
    ) -> JobLaunch:
        """Launch a job plan with the given global variable values."""
        return await self._run(
            launches.EXECUTE_JOB_PLAN,
            scope,
            job_plan_id,
            global_vars=global_vars,
            callback_url=callback_url,
            start_task=start_task,
        )

    async def push_config_file(
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
        return await self._run(
            launches.PUSH_CONFIG_FILE,
            scope,
            targets=targets,
            account=account,
            file_target_path=file_target_path,
            files=files,
            task_name=task_name,
            callback_url=callback_url,
        )

    # --- sql --------------------------------------------------------------------------------------

    async def fast_execute_sql(
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
        return await self._run(
            sql.FAST_EXECUTE_SQL,
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

    # --- logs -------------------------------------------------------------------------------------

    async def get_job_instance_ip_log(
        self, scope: Scope, job_instance_id: int, step_instance_id: int, host: HostRef
    ) -> HostLog:
        """Return one host's log in a step's current round (v3 only).

        ``host`` is a ``bk_host_id``, a ``Host`` or a ``(bk_cloud_id, ip)`` pair; bk-job
        echoes it as asked, so a host given by id comes back without its ip.
        """
        return await self._run(
            logs.GET_JOB_INSTANCE_IP_LOG, scope, job_instance_id, step_instance_id, host
        )

    async def batch_get_job_instance_ip_log(
        self, scope: Scope, job_instance_id: int, step_instance_id: int, hosts: Sequence[HostRef]
    ) -> tuple[HostLog, ...]:
        """Return the logs of any number of hosts, asked 500 at a time (bk-job's limit).

        Every request is built, and every host checked, before the first is sent; the answers
        are concatenated in request order. bk-job leaves out hosts it has no log for (or, for
        a file step, answers a row of nulls only, which is left out here too).
        """
        return await self._run(
            logs.BATCH_GET_JOB_INSTANCE_IP_LOG, scope, job_instance_id, step_instance_id, hosts
        )

    async def batch_get_job_instance_execute_object_log(
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
        return await self._run(
            logs.BATCH_GET_JOB_INSTANCE_EXECUTE_OBJECT_LOG,
            scope,
            job_instance_id,
            step_instance_id,
            hosts=hosts,
            container_ids=container_ids,
        )

    async def get_job_instance_log(self, scope: Scope, job_instance_id: int) -> tuple[StepLog, ...]:
        """Return every step of a job with each host's status and log (ESB v2 only).

        The v3 flavors have no such API (use ``batch_get_job_instance_ip_log``): there this
        raises ``UnsupportedOperationError`` before any request.
        """
        return await self._run(logs.GET_JOB_INSTANCE_LOG, scope, job_instance_id)

    # --- catalog ----------------------------------------------------------------------------------

    async def get_job_plan_list(
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
        return await self._run(
            catalog.GET_JOB_PLAN_LIST,
            scope,
            name=name,
            creator=creator,
            last_modify_user=last_modify_user,
            job_template_id=job_template_id,
            start=start,
            length=length,
        )

    async def iter_job_plans(
        self,
        scope: Scope,
        *,
        name: str | None = None,
        creator: str | None = None,
        last_modify_user: str | None = None,
        job_template_id: int | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[JobPlan]:
        """Yield every plan ``get_job_plan_list`` matches, a page at a time."""
        async for item in _paged(
            lambda start: self.get_job_plan_list(
                scope,
                name=name,
                creator=creator,
                last_modify_user=last_modify_user,
                job_template_id=job_template_id,
                start=start,
                length=page_size,
            ),
            lambda item: item.job_plan_id,
        ):
            yield item

    async def get_job_plan_detail(self, scope: Scope, job_plan_id: int) -> JobPlan:
        """Return a plan with its enabled steps and its global variables (their defaults).

        A password variable's value is masked (``******``) by bk-job v3; ESB v2 sends it as
        stored. Either way it never shows in a ``repr``.
        """
        return await self._run(catalog.GET_JOB_PLAN_DETAIL, scope, job_plan_id)

    async def get_account_list(
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
        return await self._run(
            catalog.GET_ACCOUNT_LIST,
            scope,
            category=category,
            account=account,
            alias=alias,
            start=start,
            length=length,
        )

    async def iter_accounts(
        self,
        scope: Scope,
        *,
        category: AccountCategory | int | None = None,
        account: str | None = None,
        alias: str | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[ExecutionAccount]:
        """Yield every account of a scope (of one ``category``), a page at a time."""
        async for item in _paged(
            lambda start: self.get_account_list(
                scope,
                category=category,
                account=account,
                alias=alias,
                start=start,
                length=page_size,
            ),
            lambda item: item.id,
        ):
            yield item

    # --- scripts ----------------------------------------------------------------------------------

    async def get_script_list(
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
        if scope is None:
            return await self._run(
                scripts.GET_PUBLIC_SCRIPT_LIST,
                name=name,
                script_language=script_language,
                start=start,
                length=length,
            )
        return await self._run(
            scripts.GET_SCRIPT_LIST,
            scope,
            name=name,
            script_language=script_language,
            start=start,
            length=length,
        )

    async def iter_scripts(
        self,
        scope: Scope | None,
        *,
        name: str | None = None,
        script_language: ScriptLanguage | int | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[Script]:
        """Yield every script ``get_script_list`` matches (``scope=None``: the public ones)."""
        async for item in _paged(
            lambda start: self.get_script_list(
                scope, name=name, script_language=script_language, start=start, length=page_size
            ),
            lambda item: item.script_id or item.online_script_version_id,
        ):
            yield item

    async def get_public_script_list(
        self,
        *,
        name: str | None = None,
        script_language: ScriptLanguage | int | None = None,
        start: int = 0,
        length: int = 20,
    ) -> ScriptPage:
        """Return one page of the public library's scripts that have an online version."""
        return await self._run(
            scripts.GET_PUBLIC_SCRIPT_LIST,
            name=name,
            script_language=script_language,
            start=start,
            length=length,
        )

    async def get_script_version_list(
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
        if scope is None:
            return await self._run(
                scripts.GET_PUBLIC_SCRIPT_VERSION_LIST,
                script_id,
                return_script_content=return_script_content,
                start=start,
                length=length,
            )
        return await self._run(
            scripts.GET_SCRIPT_VERSION_LIST,
            scope,
            script_id,
            return_script_content=return_script_content,
            start=start,
            length=length,
        )

    async def iter_script_versions(
        self,
        scope: Scope | None,
        script_id: str,
        *,
        return_script_content: bool = False,
        page_size: int = 1000,
    ) -> AsyncIterator[ScriptVersion]:
        """Yield every version of a script (``scope=None``: a public one), a page at a time."""
        async for item in _paged(
            lambda start: self.get_script_version_list(
                scope,
                script_id,
                return_script_content=return_script_content,
                start=start,
                length=page_size,
            ),
            lambda item: item.script_version_id,
        ):
            yield item

    async def get_public_script_version_list(
        self,
        script_id: str,
        *,
        return_script_content: bool = False,
        start: int = 0,
        length: int = 20,
    ) -> ScriptVersionPage:
        """Return one page of a public script's versions, last changed first (v3 only)."""
        return await self._run(
            scripts.GET_PUBLIC_SCRIPT_VERSION_LIST,
            script_id,
            return_script_content=return_script_content,
            start=start,
            length=length,
        )

    async def get_script_version_detail(
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
        if scope is None:
            return await self._run(
                scripts.GET_PUBLIC_SCRIPT_VERSION_DETAIL,
                script_version_id=script_version_id,
                script_id=script_id,
                version=version,
            )
        return await self._run(
            scripts.GET_SCRIPT_VERSION_DETAIL,
            scope,
            script_version_id=script_version_id,
            script_id=script_id,
            version=version,
        )

    async def get_public_script_version_detail(
        self,
        *,
        script_version_id: int | None = None,
        script_id: str | None = None,
        version: str | None = None,
    ) -> ScriptVersion | None:
        """Return one public script version with its text (v3 only; as
        ``get_script_version_detail``).
        """
        return await self._run(
            scripts.GET_PUBLIC_SCRIPT_VERSION_DETAIL,
            script_version_id=script_version_id,
            script_id=script_id,
            version=version,
        )

    async def get_script_detail(self, scope: Scope | None, script_version_id: int) -> ScriptVersion:
        """Return one script version by id, without its text (ESB v2 only; on v3 use
        ``get_script_version_detail``). ``scope=None`` reads a public script's version.
        """
        return await self._run(scripts.GET_SCRIPT_DETAIL, scope, script_version_id)

    async def create_script(
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
        return await self._run(
            scripts.CREATE_SCRIPT,
            scope,
            name=name,
            content=content,
            version=version,
            script_language=script_language,
            description=description,
            version_desc=version_desc,
        )

    async def create_public_script(
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
        return await self._run(
            scripts.CREATE_PUBLIC_SCRIPT,
            name=name,
            content=content,
            version=version,
            script_language=script_language,
            description=description,
            version_desc=version_desc,
        )

    async def create_script_version(
        self,
        scope: Scope,
        script_id: str,
        *,
        content: str,
        version: str,
        version_desc: str | None = None,
    ) -> ScriptVersion:
        """Add a draft version to a script (v3 only); a version name it has is refused."""
        return await self._run(
            scripts.CREATE_SCRIPT_VERSION,
            scope,
            script_id,
            content=content,
            version=version,
            version_desc=version_desc,
        )

    async def create_public_script_version(
        self, script_id: str, *, content: str, version: str, version_desc: str | None = None
    ) -> ScriptVersion:
        """Add a draft version to a public script (v3 only)."""
        return await self._run(
            scripts.CREATE_PUBLIC_SCRIPT_VERSION,
            script_id,
            content=content,
            version=version,
            version_desc=version_desc,
        )

    async def update_script_basic(
        self, scope: Scope, script_id: str, *, name: str, description: str | None = None
    ) -> Script:
        """Rename a script and (if given) describe it anew (v3 only).

        bk-job answers the script's row without its online version
        (``online_script_version_id`` is ``None``).
        """
        return await self._run(
            scripts.UPDATE_SCRIPT_BASIC, scope, script_id, name=name, description=description
        )

    async def update_public_script_basic(
        self, script_id: str, *, name: str, description: str | None = None
    ) -> Script:
        """Rename a public script and (if given) describe it anew (v3 only)."""
        return await self._run(
            scripts.UPDATE_PUBLIC_SCRIPT_BASIC, script_id, name=name, description=description
        )

    async def update_script_version(
        self,
        scope: Scope,
        script_id: str,
        script_version_id: int,
        *,
        content: str,
        version_desc: str | None = None,
    ) -> ScriptVersion:
        """Replace a draft version's text (v3 only); any other version is refused (1241003)."""
        return await self._run(
            scripts.UPDATE_SCRIPT_VERSION,
            scope,
            script_id,
            script_version_id,
            content=content,
            version_desc=version_desc,
        )

    async def update_public_script_version(
        self,
        script_id: str,
        script_version_id: int,
        *,
        content: str,
        version_desc: str | None = None,
    ) -> ScriptVersion:
        """Replace a public draft version's text (v3 only)."""
        return await self._run(
            scripts.UPDATE_PUBLIC_SCRIPT_VERSION,
            script_id,
            script_version_id,
            content=content,
            version_desc=version_desc,
        )

    async def publish_script_version(
        self, scope: Scope, script_id: str, script_version_id: int
    ) -> ScriptVersionState:
        """Put a version online; the script's online one goes offline (v3 only).

        A disabled version cannot be published (1241003).
        """
        return await self._run(scripts.PUBLISH_SCRIPT_VERSION, scope, script_id, script_version_id)

    async def publish_public_script_version(
        self, script_id: str, script_version_id: int
    ) -> ScriptVersionState:
        """Put a public script's version online (v3 only)."""
        return await self._run(scripts.PUBLISH_PUBLIC_SCRIPT_VERSION, script_id, script_version_id)

    async def disable_script_version(
        self, scope: Scope, script_id: str, script_version_id: int
    ) -> ScriptVersionState:
        """Disable an online or offline version: it never runs again (v3 only)."""
        return await self._run(scripts.DISABLE_SCRIPT_VERSION, scope, script_id, script_version_id)

    async def disable_public_script_version(
        self, script_id: str, script_version_id: int
    ) -> ScriptVersionState:
        """Disable a public script's version (v3 only)."""
        return await self._run(scripts.DISABLE_PUBLIC_SCRIPT_VERSION, script_id, script_version_id)

    async def delete_script_version(
        self, scope: Scope, script_id: str, script_version_id: int
    ) -> None:
        """Delete one version; the script goes with its last (v3 only)."""
        return await self._run(scripts.DELETE_SCRIPT_VERSION, scope, script_id, script_version_id)

    async def delete_public_script_version(self, script_id: str, script_version_id: int) -> None:
        """Delete one version of a public script (v3 only)."""
        return await self._run(scripts.DELETE_PUBLIC_SCRIPT_VERSION, script_id, script_version_id)

    async def delete_script(self, scope: Scope, script_id: str) -> None:
        """Delete a script and every version of it (v3 only)."""
        return await self._run(scripts.DELETE_SCRIPT, scope, script_id)

    async def delete_public_script(self, script_id: str) -> None:
        """Delete a public script and every version of it (v3 only)."""
        return await self._run(scripts.DELETE_PUBLIC_SCRIPT, script_id)

    async def check_script(
        self, content: str, *, script_language: ScriptLanguage | int = ScriptLanguage.SHELL
    ) -> tuple[ScriptCheckItem, ...]:
        """Check a script's text against the enabled dangerous-command rules (v3 only).

        ``content`` is the text (the client base64-encodes it); each finding names the line.
        """
        return await self._run(scripts.CHECK_SCRIPT, content, script_language=script_language)

    # --- rules ------------------------------------------------------------------------------------

    async def get_dangerous_rule_list(
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
        return await self._run(
            rules.GET_DANGEROUS_RULE_LIST,
            expression=expression,
            script_languages=script_languages,
            description=description,
            action=action,
        )

    async def create_dangerous_rule(
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
        return await self._run(
            rules.CREATE_DANGEROUS_RULE,
            expression=expression,
            script_languages=script_languages,
            action=action,
            description=description,
        )

    async def update_dangerous_rule(
        self,
        rule_id: int,
        *,
        expression: str,
        script_languages: Iterable[ScriptLanguage | int],
        action: DangerousRuleAction | int,
        description: str = "",
    ) -> DangerousRule:
        """Replace a rule's fields; whether it is enabled stays (v3 only)."""
        return await self._run(
            rules.UPDATE_DANGEROUS_RULE,
            rule_id,
            expression=expression,
            script_languages=script_languages,
            action=action,
            description=description,
        )

    async def delete_dangerous_rule(self, rule_id: int) -> None:
        """Delete a rule (v3 only); bk-job answers success for a rule it does not have."""
        return await self._run(rules.DELETE_DANGEROUS_RULE, rule_id)

    async def enable_dangerous_rule(self, rule_id: int) -> DangerousRuleState:
        """Enable a rule (v3 only)."""
        return await self._run(rules.ENABLE_DANGEROUS_RULE, rule_id)

    async def disable_dangerous_rule(self, rule_id: int) -> DangerousRuleState:
        """Disable a rule (v3 only)."""
        return await self._run(rules.DISABLE_DANGEROUS_RULE, rule_id)

    # --- templates --------------------------------------------------------------------------------

    async def get_job_template_list(
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
        return await self._run(
            templates.GET_JOB_TEMPLATE_LIST,
            scope,
            name=name,
            creator=creator,
            last_modify_user=last_modify_user,
            start=start,
            length=length,
        )

    async def iter_job_templates(
        self,
        scope: Scope,
        *,
        name: str | None = None,
        creator: str | None = None,
        last_modify_user: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[JobTemplate]:
        """Yield every job template ``get_job_template_list`` matches, a page at a time."""
        async for item in _paged(
            lambda start: self.get_job_template_list(
                scope,
                name=name,
                creator=creator,
                last_modify_user=last_modify_user,
                start=start,
                length=page_size,
            ),
            lambda item: item.id,
        ):
            yield item

    async def get_step_instance_detail(
        self, scope: Scope, job_instance_id: int, step_instance_id: int
    ) -> StepDetail:
        """Return what a step of a job was told to do: script, files or approval (gateway only)."""
        return await self._run(
            templates.GET_STEP_INSTANCE_DETAIL, scope, job_instance_id, step_instance_id
        )

    async def get_job_template_detail(
        self, scope: Scope, job_template_id: int
    ) -> JobTemplateDetail:
        """Return a job template with its steps and variables (gateway v4 only)."""
        return await self._run(templates.GET_JOB_TEMPLATE_DETAIL, scope, job_template_id)

    async def create_job_plan(
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
        return await self._run(
            templates.CREATE_JOB_PLAN,
            scope,
            job_template_id,
            name,
            enable_steps=enable_steps,
            variables=variables,
            follow_template=follow_template,
        )

    # --- accounts ---------------------------------------------------------------------------------

    async def create_account(
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
        return await self._run(
            accounts.CREATE_ACCOUNT,
            scope,
            account=account,
            type=type,
            category=category,
            password=password,
            alias=alias,
            description=description,
        )

    async def update_account(
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
        return await self._run(
            accounts.UPDATE_ACCOUNT,
            scope,
            account_id,
            alias=alias,
            password=password,
            description=description,
        )

    async def delete_account(self, scope: Scope, account_id: int) -> ExecutionAccount:
        """Delete an account; return it as it was."""
        return await self._run(accounts.DELETE_ACCOUNT, scope, account_id)

    async def get_account_password_encryption_metadata(self) -> PasswordEncryption:
        """Return the public key and algorithm bk-job wants passwords encrypted with (gateway
        only).
        """
        return await self._run(accounts.GET_ACCOUNT_PASSWORD_ENCRYPTION_METADATA)

    async def get_own_db_account_list(self, scope: Scope) -> tuple[ExecutionAccount, ...]:
        """Return the DB accounts of a scope the caller may use (ESB v2 only)."""
        return await self._run(accounts.GET_OWN_DB_ACCOUNT_LIST, scope)

    # --- files ------------------------------------------------------------------------------------

    async def create_file_source(
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
        return await self._run(
            files.CREATE_FILE_SOURCE,
            scope,
            code=code,
            alias=alias,
            credential_id=credential_id,
            base_url=base_url,
            type=type,
            access_params=access_params,
            file_prefix=file_prefix,
        )

    async def update_file_source(
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
        return await self._run(
            files.UPDATE_FILE_SOURCE,
            scope,
            code=code,
            alias=alias,
            credential_id=credential_id,
            base_url=base_url,
            type=type,
            access_params=access_params,
            file_prefix=file_prefix,
        )

    async def get_file_source_detail(self, scope: Scope, code: str) -> FileSourceDetail:
        """Return the file source ``code`` of a scope (gateway only)."""
        return await self._run(files.GET_FILE_SOURCE_DETAIL, scope, code)

    async def create_credential(
        self, scope: Scope, *, name: str, secret: CredentialSecret, description: str | None = None
    ) -> str:
        """Store a credential (``CredentialSecret.for_username_password(...)``, ...) and return
        its id; the secret is masked in every error and never comes back.
        """
        return await self._run(
            files.CREATE_CREDENTIAL, scope, name=name, secret=secret, description=description
        )

    async def update_credential(
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
        return await self._run(
            files.UPDATE_CREDENTIAL,
            scope,
            credential_id,
            name=name,
            secret=secret,
            description=description,
        )

    async def get_credential_detail(self, scope: Scope, credential_id: str) -> CredentialDetail:
        """Return a credential's name, type and history, never its secret (gateway only)."""
        return await self._run(files.GET_CREDENTIAL_DETAIL, scope, credential_id)

    async def generate_local_file_upload_url(
        self, scope: Scope, file_names: Sequence[str]
    ) -> UploadUrls:
        """Return where to upload each local file, and the path a transfer then names (ESB only)."""
        return await self._run(files.GENERATE_LOCAL_FILE_UPLOAD_URL, scope, file_names)

    # --- settings ---------------------------------------------------------------------------------

    async def get_notify_config(self, scope: Scope) -> tuple[NotifyPolicy, ...]:
        """Return a scope's default notification policies, one per way of starting jobs
        (gateway only).
        """
        return await self._run(settings.GET_NOTIFY_CONFIG, scope)

    async def get_latest_service_version(self) -> str | None:
        """Return the newest version any bk-job service runs (ESB jobv3 only)."""
        return await self._run(settings.GET_LATEST_SERVICE_VERSION)

    async def get_user_authorized_scopes(
        self, *, start: int = 0, length: int = 10
    ) -> AuthorizedScopePage:
        """Return a page of the scopes the user may use (gateway v4 only; ``length`` 1..200)."""
        return await self._run(settings.GET_USER_AUTHORIZED_SCOPES, start=start, length=length)

    # --- crons ------------------------------------------------------------------------------------

    async def get_cron_list(
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
        return await self._run(
            crons.GET_CRON_LIST,
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

    async def iter_crons(
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
    ) -> AsyncIterator[CronJob]:
        """Yield every cron job ``get_cron_list`` matches, a page at a time."""
        async for item in _paged(
            lambda start: self.get_cron_list(
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
                length=page_size,
            ),
            lambda item: item.id,
        ):
            yield item

    async def get_cron_detail(self, scope: Scope, cron_id: int) -> CronJob | None:
        """Return a cron job with its variable values, ``None`` if the scope has none (v3 only)."""
        return await self._run(crons.GET_CRON_DETAIL, scope, cron_id)

    async def save_cron(
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
        return await self._run(
            crons.SAVE_CRON,
            scope,
            job_plan_id=job_plan_id,
            name=name,
            expression=expression,
            execute_time=execute_time,
            global_vars=global_vars,
            execute_time_zone=execute_time_zone,
            cron_id=cron_id,
        )

    async def update_cron_status(
        self, scope: Scope, cron_id: int, status: CronStatus | int
    ) -> None:
        """Start (``CronStatus.RUNNING``) or pause (``CronStatus.PAUSED``) a cron job.

        A one-off cron job whose time has passed cannot start (``OperationNotAllowedError``).
        """
        return await self._run(crons.UPDATE_CRON_STATUS, scope, cron_id, status)

    async def delete_cron(self, scope: Scope, cron_id: int) -> None:
        """Delete a cron job (v3 only); ``NotFoundError`` if the scope has none."""
        return await self._run(crons.DELETE_CRON, scope, cron_id)

    # --- analysis ---------------------------------------------------------------------------------

    async def get_script_task_context(
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
        return await self._run(
            analysis.GET_SCRIPT_TASK_CONTEXT,
            scope,
            job_instance_id,
            step_instance_id,
            execute_count=execute_count,
            host_id=host_id,
            container_id=container_id,
            batch=batch,
            content=content,
        )

    async def get_file_task_context(
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
        return await self._run(
            analysis.GET_FILE_TASK_CONTEXT,
            scope,
            job_instance_id,
            step_instance_id,
            mode=mode,
            execute_count=execute_count,
            host_id=host_id,
            container_id=container_id,
            batch=batch,
        )

    # --- end of generated methods ---

    # --- by hand: methods that read several APIs ---

    async def failed_host_logs(
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
        # Builds no request for no hosts, but checks the scope and that the flavor has the API.
        self.protocol.spell(logs.BATCH_GET_JOB_INSTANCE_IP_LOG, scope, job_instance_id, 1, ())
        check_bool(running, "running")
        status = await self._with_hosts(scope, job_instance_id, status)
        if not status.finished and not running:
            raise ValueError(
                f"job {job_instance_id} has not finished ({status.job.status.name}): its failed "
                "hosts are not known yet; pass running=True to read those that failed so far "
                "and those still running"
            )

        def failed(row: HostResult) -> bool:
            ended = row.status.is_finished
            return (ended and not row.status.is_success) or (running and not ended)

        wanted = {
            step.step_instance_id: [r.host for r in step.hosts or () if failed(r)]
            for step in status.steps
        }
        return await self._read_logs(scope, status, wanted, at_once)

    async def host_logs(
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
        self.protocol.spell(logs.BATCH_GET_JOB_INSTANCE_IP_LOG, scope, job_instance_id, 1, ())
        if steps not in ("last", "all"):
            raise ValueError(f"steps must be 'last' or 'all', not {steps!r}")
        check_bool(running, "running")
        status = await self._with_hosts(scope, job_instance_id, status)
        chosen = [s for s in status.steps if s.type in (StepType.SCRIPT, StepType.FILE)]
        if steps == "last":
            chosen = chosen[-1:]

        def read(row: HostResult) -> bool:
            return row.status is not HostStatus.WAITING and (running or row.status.is_finished)

        wanted = {s.step_instance_id: [r.host for r in s.hosts or () if read(r)] for s in chosen}
        return await self._read_logs(scope, status, wanted, at_once)

    async def job_result(
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
        success = check_success(success)
        return JobResult.of(await self._with_hosts(scope, job_instance_id, status), success=success)

    async def _with_hosts(
        self, scope: Scope, job_instance_id: int, status: JobInstanceStatus | None
    ) -> JobInstanceStatus:
        """Return ``status``, or the job's status read with its hosts when it is missing or a
        step lacks its hosts; refuse another job's."""
        if status is not None and status.job.job_instance_id != job_instance_id:
            raise ValueError(
                f"status is job {status.job.job_instance_id}'s, not job {job_instance_id}'s"
            )
        if status is None or any(step.hosts is None for step in status.steps):
            status = await self.get_job_instance_status(scope, job_instance_id)
        return status

    async def _read_logs(
        self,
        scope: Scope,
        status: JobInstanceStatus,
        wanted: Mapping[int, Sequence[Host]],
        at_once: int,
    ) -> dict[int, tuple[HostLog, ...]]:
        """Read ``wanted`` hosts' logs by step, 500 a request, ``at_once`` requests at a time;
        a host the answer leaves out is listed with no content. Steps with no host left out."""
        limiter = anyio.CapacityLimiter(check_id(at_once, "at_once"))
        job_id = status.job.job_instance_id
        found: dict[tuple[int, int], tuple[HostLog, ...]] = {}

        async def read(step: int, n: int, hosts: Sequence[Host]) -> None:
            async with limiter:
                found[step, n] = await self.batch_get_job_instance_ip_log(
                    scope, job_id, step, hosts
                )

        async with anyio.create_task_group() as tg:
            for step, hosts in wanted.items():
                for n in range(0, len(hosts), MAX_LOG_HOSTS):
                    tg.start_soon(read, step, n, hosts[n : n + MAX_LOG_HOSTS])
        out: dict[int, tuple[HostLog, ...]] = {}
        kinds = {StepType.SCRIPT: LogType.SCRIPT, StepType.FILE: LogType.FILE}
        for each in status.steps:
            step_id = each.step_instance_id
            hosts = wanted.get(step_id) or ()
            if not hosts:
                continue
            chunks = range(0, len(hosts), MAX_LOG_HOSTS)
            by_key = {log.host.key: log for n in chunks for log in found[step_id, n]}
            kind = None if each.type is None else kinds.get(each.type)
            out[step_id] = tuple(by_key.get(host.key) or HostLog(host, kind) for host in hosts)
        return out

    async def failed_container_logs(
        self,
        scope: Scope,
        job_instance_id: int,
        *,
        status: JobInstanceStatus | None = None,
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
        self.protocol.spell(
            logs.BATCH_GET_JOB_INSTANCE_EXECUTE_OBJECT_LOG, scope, job_instance_id, 1
        )
        failed = await self._failed(scope, job_instance_id, status, lambda step: step.containers)
        return {
            step: await self.batch_get_job_instance_execute_object_log(
                scope, job_instance_id, step, container_ids=[r.container.id for r in rows]
            )
            for step, rows in failed.items()
        }

    async def _failed(
        self,
        scope: Scope,
        job_instance_id: int,
        status: JobInstanceStatus | None,
        rows: Callable[[StepInstance], tuple[R, ...] | None],
    ) -> dict[int, list[R]]:
        """Return each step's ``rows`` that finished without success, by step id (steps with
        none left out); ``status`` is read first when missing or a step lacks its rows."""
        if status is not None and status.job.job_instance_id != job_instance_id:
            raise ValueError(
                f"status is job {status.job.job_instance_id}'s, not job {job_instance_id}'s"
            )
        if status is None or any(rows(step) is None for step in status.steps):
            status = await self.get_job_instance_status(scope, job_instance_id)
        found: dict[int, list[R]] = {}
        for step in status.steps:
            failed = [
                r for r in rows(step) or () if r.status.is_finished and not r.status.is_success
            ]
            if failed:
                found[step.step_instance_id] = failed
        return found


class _Page(typing.Protocol[T_co]):
    @property
    def items(self) -> tuple[T_co, ...]: ...
    @property
    def length(self) -> int: ...
    @property
    def total(self) -> int | None: ...


async def _paged(
    fetch: Callable[[int], Awaitable[_Page[T]]], key: Callable[[T], object]
) -> AsyncIterator[T]:
    """Yield the items of ``fetch(start)`` pages until ``total`` is reached (or, with no total,
    a short page); an item seen on an earlier page (the list shifted) is not yielded again."""
    seen: set[object] = set()
    start = 0
    while True:
        page = await fetch(start)
        for item in page.items:
            if key(item) not in seen:
                seen.add(key(item))
                yield item
        start += len(page.items)
        total = page.total
        if not page.items or (
            start >= total if total is not None else len(page.items) < page.length
        ):
            return


def _check_arguments(
    timeouts: object,
    retry: object,
    connection_limit: object,
    max_body_size: object,
    transport: object,
    sleep: object,
    rng: object,
) -> None:
    """Raise ``TypeError``/``ValueError`` naming the first argument of the client that is wrong."""
    if not isinstance(timeouts, Timeouts):
        raise TypeError(f"timeouts must be a Timeouts, not {type(timeouts).__name__}")
    if not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
    check_id(connection_limit, "connection_limit")
    check_id(max_body_size, "max_body_size")
    if transport is not None and not (
        callable(getattr(transport, "send", None)) and callable(getattr(transport, "aclose", None))
    ):
        raise TypeError("transport must have async send(request) and aclose() methods")
    if not callable(sleep):
        raise TypeError(f"sleep must be an async function of seconds, not {type(sleep).__name__}")
    if rng is not None and not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random or None, not {type(rng).__name__}")
