"""Pin the public names: adding or removing one must be a deliberate change to this list."""

from __future__ import annotations

import bkjob_async

PUBLIC = [
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


def test_all_is_pinned_and_sorted() -> None:
    assert bkjob_async.__all__ == PUBLIC


def test_every_public_name_exists() -> None:
    for name in bkjob_async.__all__:
        assert hasattr(bkjob_async, name), name


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from bkjob_async import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(PUBLIC)


def test_public_classes_live_in_public_or_documented_modules() -> None:
    for name in PUBLIC:
        value = getattr(bkjob_async, name)
        module = getattr(value, "__module__", "bkjob_async")
        assert module.startswith("bkjob_async"), (name, module)


def test_tuning_is_a_public_module_of_opt_in_calls() -> None:
    # Process-wide tuning is never done by import: it is a call a program makes from here.
    import bkjob_async.tuning

    assert bkjob_async.tuning.__all__ == ["freeze_what_is_alive", "keep_receive_buffers_on_heap"]
    assert all(callable(getattr(bkjob_async.tuning, name)) for name in bkjob_async.tuning.__all__)
