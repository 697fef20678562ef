"""bkjob-async, an asyncio client and poller for bk-job: each public name is imported on first use.

The client, ``BkJobClient``, speaks all three API generations (``flavor="apigw-v3"``, the API
gateway, by default; ``"esb-jobv3"`` and ``"esb-v2"`` with the PaaS URL) and returns the same
frozen, typed models whatever the generation::

    async with BkJobClient(url, app_code=..., app_secret=..., username="admin") as client:
        launch = await client.fast_execute_script(
            Scope.biz(2), targets=Targets(host_ids=[1001]), account=Account(alias="root"),
            script_content="uptime",
        )
        status = await client.get_job_instance_status(Scope.biz(2), launch.job_instance_id)

Endpoints: launch (``fast_execute_script``, ``fast_transfer_file``, ``execute_job_plan``),
read (``get_job_instance_status``, ``get_step_instance_status``), operate
(``operate_step_instance``, ``operate_job_instance``), and on v3 logs
(``batch_get_job_instance_ip_log``, ``failed_host_logs``) and history
(``get_job_instance_list``, ``iter_job_instances``). Reads retry transient failures;
operations and launches only when bk-job provably never saw them. Every failure is a
``BkJobError``: ``ApiError`` and its kinds (``NotFoundError``, ``PermissionDeniedError``,
``RateLimitedError``, ...) for bk-job's answers, ``TransportError`` (``ConnectError``,
``TimeoutError``) for the network. Secrets never appear in a log, repr or message.

The poller, ``Poller``, watches any number of jobs with one scheduler and a bounded pool of
requests, and yields what changed as events::

    async with Poller(client) as poller:
        async with poller.watch_jobs(Scope.biz(2), job_ids) as watch:
            async for event in watch:  # HostTransition, StepTransition, JobTransition, ...
                ...

Events: ``HostTransition`` (a container's: ``ContainerTransition``, gateway v4),
``StepTransition``, ``JobTransition``, ``JobFinished`` (a job's last event, with its final snapshot), ``WatchFailed``, ``WatchTimedOut`` (``PollPolicy.
deadline``), ``PollingStalled``/``PollingResumed`` while bk-job cannot be reached (an
outage, not a failure: the watch goes on), and ``JobPollFailing``/``JobPollRecovered`` while
one job's reads fail alone (that job backs off alone; its failure budget may end it). A watch ends when its ``async with`` block is
left, on ``await watch.aclose()``, when all its jobs have ended, or on ``break`` out of an
inline ``async for event in poller.watch_jobs(...)`` (not of a watch kept in a variable).
``poller.wait_finished(scope, job_id)`` waits for one job; ``poller.statistics()`` returns a
``PollerStatistics`` snapshot. ``PollPolicy`` sets intervals, concurrency and deadlines.

Durable watches survive a restart: ``Poller(client, store=SqliteStore("state.db"))`` and
``poller.watch_jobs(scope, ids, name="deploys")``, then ``await poller.resume("deploys")``
after the restart; ``await watch.ack(event)`` returns once the ack is on disk
(``MemoryStore`` keeps them in memory).

Also: ``bkjob_async.testing``: ``BkJobSimulator``, a bk-job that behaves like the real one on
the wire, and ``MockTransport(handler)`` (``sim.transport()``) to test without a socket;
``bkjob_async.cluster`` (the ``redis`` extra): ``Cluster`` and ``Worker``, many processes
sharing one set of jobs, one rate budget and event streams on Redis;
``bkjob_async.metrics.PollerMetrics``, the poller's figures for Prometheus (the
``prometheus`` extra); none of these is imported here. And the ``bkjob-async`` command line
(the ``cli`` extra): ``demo``, ``watch``, ``status``, ``logs``, ``list``, ``launch``,
``operate``, ``simulate``, ``worker``, ``submit``. The documentation (docs/, ``make docs``) has runnable examples of each.
"""

# The names are imported when first used (PEP 562), so that ``import bkjob_async`` (and the
# command line's start) costs what it needs only: the block below is for type checkers and
# IDEs, and ``__getattr__`` reads it to find where each name lives (as lazy_loader's
# ``attach_stub`` reads a stub). To add a public name, import it here and list it in __all__.
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._converter import from_json, to_json
    from ._fold import Fold, FoldCounts, FoldedJob
    from .client import BkJobClient
    from .config import ApiFlavor, Credentials, RetryPolicy, Scope, ScopeType, Timeouts
    from .errors import (
        ApiError,
        AuthenticationError,
        BkJobError,
        CertificateError,
        ConflictError,
        ConnectError,
        ConnectTimeoutError,
        EndpointNotFoundError,
        InvalidRequestError,
        JobFailedError,
        NotFoundError,
        OperationNotAllowedError,
        PermissionDeniedError,
        PollingError,
        QuotaExceededError,
        RateLimitedError,
        ResponseFormatError,
        ResponseRefusedError,
        ServerError,
        StoreError,
        TimeoutError,
        TransportError,
        UnsupportedOperationError,
    )
    from .models import (
        KEEP_SECRET,
        AccountCategory,
        AccountPage,
        AccountRef,
        AccountType,
        CredentialDetail,
        CredentialSecret,
        CredentialType,
        CronJob,
        CronPage,
        CronStatus,
        DangerousRule,
        DangerousRuleAction,
        DangerousRuleState,
        DangerousRuleStatus,
        ExecutionAccount,
        FileDestination,
        FileLog,
        FileLogMode,
        FileSourceDetail,
        FileSourceType,
        FileStepDetail,
        FileTaskStatus,
        Host,
        HostLog,
        HostResult,
        HostStatus,
        HostStepLog,
        JobInstance,
        JobInstancePage,
        JobInstanceStatus,
        JobInstanceSummary,
        JobLaunch,
        JobOperation,
        JobPlan,
        JobPlanPage,
        JobResult,
        JobStatus,
        JobStatusPage,
        JobStatusRow,
        JobTemplate,
        JobTemplatePage,
        JobVariables,
        LaunchMode,
        LogType,
        NotifyPolicy,
        PasswordEncryption,
        PlanStep,
        PlanVariable,
        Script,
        ScriptCheckItem,
        ScriptCheckLevel,
        ScriptLanguage,
        ScriptPage,
        ScriptSource,
        ScriptStepDetail,
        ScriptVersion,
        ScriptVersionPage,
        ScriptVersionState,
        ScriptVersionStatus,
        StepDetail,
        StepFileSource,
        StepInstance,
        StepInstanceStatus,
        StepLog,
        StepOperation,
        StepResultGroup,
        StepStatus,
        StepType,
        StepVariables,
        TaskType,
        TransferMode,
        UploadUrl,
        UploadUrls,
        VariableType,
        VariableValue,
    )
    from .models.requests import (
        Account,
        ConfigFile,
        FileSource,
        FileSourceRolling,
        GlobalVar,
        KubeContainerFilter,
        LabelSelector,
        RollingConfig,
        Targets,
    )
    from .polling import (
        Callback,
        CallbackBindError,
        CallbackReceiver,
        CallbackStatistics,
        ContainerTransition,
        FailedContainer,
        FailedHost,
        HostTransition,
        JobFinished,
        JobPollFailing,
        JobPollRecovered,
        JobTransition,
        Launch,
        Launched,
        LaunchFailed,
        LaunchTimedOut,
        MemoryStore,
        Poller,
        PollerStatistics,
        PollingResumed,
        PollingStalled,
        PollPolicy,
        Rollout,
        RolloutDeadlineError,
        RolloutStatistics,
        SqliteStore,
        StepTransition,
        Watch,
        WatchFailed,
        WatchSummary,
        WatchTimedOut,
        failed_containers,
        failed_hosts,
    )

from ._version import __version__

__all__ = [
    "KEEP_SECRET",
    "Account",
    "AccountCategory",
    "AccountPage",
    "AccountRef",
    "AccountType",
    "ApiError",
    "ApiFlavor",
    "AuthenticationError",
    "BkJobClient",
    "BkJobError",
    "Callback",
    "CallbackBindError",
    "CallbackReceiver",
    "CallbackStatistics",
    "CertificateError",
    "ConfigFile",
    "ConflictError",
    "ConnectError",
    "ConnectTimeoutError",
    "ContainerTransition",
    "CredentialDetail",
    "CredentialSecret",
    "CredentialType",
    "Credentials",
    "CronJob",
    "CronPage",
    "CronStatus",
    "DangerousRule",
    "DangerousRuleAction",
    "DangerousRuleState",
    "DangerousRuleStatus",
    "EndpointNotFoundError",
    "ExecutionAccount",
    "FailedContainer",
    "FailedHost",
    "FileDestination",
    "FileLog",
    "FileLogMode",
    "FileSource",
    "FileSourceDetail",
    "FileSourceRolling",
    "FileSourceType",
    "FileStepDetail",
    "FileTaskStatus",
    "Fold",
    "FoldCounts",
    "FoldedJob",
    "GlobalVar",
    "Host",
    "HostLog",
    "HostResult",
    "HostStatus",
    "HostStepLog",
    "HostTransition",
    "InvalidRequestError",
    "JobFailedError",
    "JobFinished",
    "JobInstance",
    "JobInstancePage",
    "JobInstanceStatus",
    "JobInstanceSummary",
    "JobLaunch",
    "JobOperation",
    "JobPlan",
    "JobPlanPage",
    "JobPollFailing",
    "JobPollRecovered",
    "JobResult",
    "JobStatus",
    "JobStatusPage",
    "JobStatusRow",
    "JobTemplate",
    "JobTemplatePage",
    "JobTransition",
    "JobVariables",
    "KubeContainerFilter",
    "LabelSelector",
    "Launch",
    "LaunchFailed",
    "LaunchMode",
    "LaunchTimedOut",
    "Launched",
    "LogType",
    "MemoryStore",
    "NotFoundError",
    "NotifyPolicy",
    "OperationNotAllowedError",
    "PasswordEncryption",
    "PermissionDeniedError",
    "PlanStep",
    "PlanVariable",
    "PollPolicy",
    "Poller",
    "PollerStatistics",
    "PollingError",
    "PollingResumed",
    "PollingStalled",
    "QuotaExceededError",
    "RateLimitedError",
    "ResponseFormatError",
    "ResponseRefusedError",
    "RetryPolicy",
    "RollingConfig",
    "Rollout",
    "RolloutDeadlineError",
    "RolloutStatistics",
    "Scope",
    "ScopeType",
    "Script",
    "ScriptCheckItem",
    "ScriptCheckLevel",
    "ScriptLanguage",
    "ScriptPage",
    "ScriptSource",
    "ScriptStepDetail",
    "ScriptVersion",
    "ScriptVersionPage",
    "ScriptVersionState",
    "ScriptVersionStatus",
    "ServerError",
    "SqliteStore",
    "StepDetail",
    "StepFileSource",
    "StepInstance",
    "StepInstanceStatus",
    "StepLog",
    "StepOperation",
    "StepResultGroup",
    "StepStatus",
    "StepTransition",
    "StepType",
    "StepVariables",
    "StoreError",
    "Targets",
    "TaskType",
    "TimeoutError",
    "Timeouts",
    "TransferMode",
    "TransportError",
    "UnsupportedOperationError",
    "UploadUrl",
    "UploadUrls",
    "VariableType",
    "VariableValue",
    "Watch",
    "WatchFailed",
    "WatchSummary",
    "WatchTimedOut",
    "__version__",
    "failed_containers",
    "failed_hosts",
    "from_json",
    "to_json",
]


if not TYPE_CHECKING:  # (hidden from type checkers: an unknown name stays an error there)

    def __getattr__(name: str) -> object:
        """Import a public name (or a submodule) on its first use."""
        import importlib

        module = _lazy_names().get(name)
        if module is None:
            try:
                return importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise
                raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value  # (the next use is a plain attribute)
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})


_LAZY: dict[str, str] = {}


def _lazy_names() -> dict[str, str]:
    """Return where each name of the ``TYPE_CHECKING`` block lives: ``{"Poller": ".polling"}``."""
    if not _LAZY:
        import ast
        from pathlib import Path

        tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
                for stmt in node.body:
                    if isinstance(stmt, ast.ImportFrom) and stmt.level == 1:
                        for alias in stmt.names:
                            _LAZY[alias.asname or alias.name] = "." + (stmt.module or "")
    return _LAZY
