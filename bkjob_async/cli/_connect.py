"""Rule: secrets come only from the environment, and no message here contains one.

Where to connect, as whom and how to poll, from flags and the environment; errors as actions.

Rule: secrets come only from the environment (``BKJOB_APP_SECRET``, ``BKJOB_BK_TOKEN``,
``BKJOB_ACCESS_TOKEN``), never from a flag, and no message here ever contains one: a message
names the variable to fix, never its value. The watch commands (``_commands``, ``_cluster``,
``_dashboard``) take the poll policy and ``--metrics-port`` from here, not from each other;
``prometheus_client`` is imported only when a port is given, and its absence is a
``CliError`` saying what to install.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .. import errors
from ..client import BkJobClient
from ..config import ApiFlavor, Credentials, Scope, Timeouts
from ..polling import PollPolicy
from ._runtime import CliError

if TYPE_CHECKING:
    import argparse
    import contextlib
    from collections.abc import Iterable

    from prometheus_client import CollectorRegistry

    from .._transport import Instrument
    from ._runtime import Context

__all__ = [
    "ENV_VARS",
    "Target",
    "connection",
    "credentials_from_env",
    "explain",
    "is_job_level",
    "no_answer",
    "open_client",
    "policy_from",
    "serve_metrics",
    "target_from",
]

#: Every variable the commands read, and what it holds (for ``--help``).
ENV_VARS = {
    "BKJOB_URL": "the bk-job URL (or --url)",
    "BKJOB_FLAVOR": "apigw-v3 (default), apigw-v4, esb-jobv3 or esb-v2 (or --flavor)",
    "BKJOB_SCOPE": "biz:<id> or biz_set:<id> (or --scope)",
    "BKJOB_TENANT_ID": "tenant id on multi-tenant installs (or --tenant-id)",
    "BKJOB_APP_CODE": "the app code",
    "BKJOB_APP_SECRET": "the app secret",
    "BKJOB_USERNAME": "the user to act as; or BKJOB_BK_TOKEN, or BKJOB_ACCESS_TOKEN",
    "BKJOB_LANGUAGE": "en (default) or zh: the language of bk-job's messages (or --language)",
}
#: bk-job's names of the ``--language`` choices.
LANGUAGES = {"en": "en", "zh": "zh-cn"}
#: Seconds to wait for an answer (``--timeout``): long enough for a busy gateway, short enough
#: that a person at a terminal is not left wondering.
DEFAULT_TIMEOUT = 10.0


def _url_hint(flavor: ApiFlavor) -> str:
    """Return which URL ``flavor`` wants: the gateway's stage, or the ESB's PaaS."""
    if flavor.is_gateway:
        return "the gateway stage URL, e.g. https://bkapi.example.com/api/bk-job/prod"
    return "the PaaS URL, e.g. https://paas.example.com"


@attrs.frozen
class Target:
    """One bk-job server, API flavor and scope, and how long to wait for it."""

    url: str
    flavor: ApiFlavor
    scope: Scope
    tenant_id: str | None = None
    #: Seconds to wait for one answer (``--timeout``).
    timeout: float = DEFAULT_TIMEOUT
    #: bk-job's name of the language its messages should come in.
    language: str = "en"
    #: TLS and proxy options (``--ca-bundle``, ``--client-cert``/``--client-key``, ``--proxy``,
    #: ``--trust-env``), as ``BkJobClient`` takes them.
    network: dict[str, Any] = attrs.field(factory=dict, eq=False)

    @property
    def server(self) -> str:
        """Return where this target is, for a person: URL, scope and flavor."""
        return f"{self.shown_url} ({self.scope}, {self.flavor.value})"

    @property
    def shown_url(self) -> str:
        """Return the URL without any user:password part, fit to print."""
        return redact_url(self.url)


def redact_url(url: str) -> str:
    """Return ``url`` with its userinfo (which could hold a password) removed."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def target_from(args: argparse.Namespace, env: Mapping[str, str]) -> Target:
    """Return the target named by ``--url``/``--flavor``/``--scope`` or their variables."""
    flavor_text = args.flavor or _get(env, "BKJOB_FLAVOR") or ApiFlavor.APIGW_V3.value
    try:
        flavor = ApiFlavor.coerce(flavor_text)
    except ValueError as exc:
        raise CliError(f"{exc} (from --flavor or BKJOB_FLAVOR)") from None
    url = args.url or _get(env, "BKJOB_URL")
    if not url:
        raise CliError(
            f"no bk-job URL: pass --url or set BKJOB_URL ({flavor.value}: {_url_hint(flavor)})"
        )
    if not url.startswith(("http://", "https://")):
        raise CliError(f"the URL must start with http:// or https://, got {redact_url(url)!r}")
    if "@" in urllib.parse.urlsplit(url).netloc:
        raise CliError(
            f"the URL must not contain user:password@ (it would end up in messages and logs), "
            f"got {redact_url(url)!r}; bk-job authenticates with the BKJOB_APP_* variables"
        )
    scope_text = args.scope or _get(env, "BKJOB_SCOPE")
    if not scope_text:
        raise CliError("no scope: pass --scope biz:<id> (or biz_set:<id>), or set BKJOB_SCOPE")
    try:
        scope = Scope.parse(scope_text)
        scope.params(flavor)
    except (TypeError, ValueError) as exc:
        raise CliError(str(exc)) from None
    tenant = getattr(args, "tenant_id", None) or _get(env, "BKJOB_TENANT_ID")
    language = getattr(args, "language", None) or _get(env, "BKJOB_LANGUAGE") or "en"
    if language not in LANGUAGES:
        raise CliError(
            f"the language must be en or zh, got {language!r} (--language, BKJOB_LANGUAGE)"
        )
    timeout = getattr(args, "timeout", None) or DEFAULT_TIMEOUT
    return Target(url, flavor, scope, tenant, timeout, LANGUAGES[language], _network(args, env))


def _network(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    """Return ``BkJobClient``'s TLS and proxy options from the flags and their variables."""
    network: dict[str, Any] = {}
    bundle = getattr(args, "ca_bundle", None) or _get(env, "BKJOB_CA_BUNDLE")
    if bundle:
        network["ssl"] = bundle
    cert = getattr(args, "client_cert", None) or _get(env, "BKJOB_CLIENT_CERT")
    key = getattr(args, "client_key", None)
    if key and not cert:
        raise CliError("--client-key needs --client-cert (or BKJOB_CLIENT_CERT)")
    if cert:
        network["client_cert"] = (cert, key) if key else cert
    proxy = getattr(args, "proxy", None) or _get(env, "BKJOB_PROXY")
    if proxy:
        network["proxy"] = proxy
    if getattr(args, "trust_env", False):
        network["trust_env"] = True
    return network


def connection(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[Target, Credentials]:
    """Return ``target_from`` and ``credentials_from_env``, checked in that order."""
    return target_from(args, env), credentials_from_env(env)


def credentials_from_env(env: Mapping[str, str]) -> Credentials:
    """Return the identity in ``BKJOB_*`` variables, or say which variables are missing."""
    names = {
        "app_code": "BKJOB_APP_CODE",
        "app_secret": "BKJOB_APP_SECRET",
        "username": "BKJOB_USERNAME",
        "bk_token": "BKJOB_BK_TOKEN",
        "access_token": "BKJOB_ACCESS_TOKEN",
    }
    found = {key: value for key, name in names.items() if (value := _get(env, name)) is not None}
    missing = [names[key] for key in ("app_code", "app_secret") if key not in found]
    if not {"username", "bk_token", "access_token"} & found.keys():
        missing.append("one of BKJOB_USERNAME, BKJOB_BK_TOKEN or BKJOB_ACCESS_TOKEN")
    if missing:
        raise CliError(
            f"missing credentials: set {', '.join(missing)} in the environment "
            "(secrets are read only from the environment, never from flags)"
        )
    return Credentials(**found)


def open_client(
    target: Target, credentials: Credentials, *, instruments: Iterable[Instrument] = ()
) -> BkJobClient:
    """Return a client for ``target``: each request waits ``target.timeout`` at most.

    Connecting waits 5 s at most (an unreachable URL fails fast). ``instruments``: metrics.
    """
    try:
        return BkJobClient(
            target.url,
            flavor=target.flavor,
            tenant_id=target.tenant_id,
            language=target.language,
            timeouts=Timeouts(
                connect=min(5.0, target.timeout),
                read=target.timeout,
                total=target.timeout,
                call=max(Timeouts().call or 0.0, target.timeout),  # (a longer --timeout is obeyed)
            ),
            app_code=credentials.app_code,
            app_secret=credentials.app_secret,
            username=credentials.username,
            bk_token=credentials.bk_token,
            access_token=credentials.access_token,
            instruments=instruments,
            **target.network,
        )
    except (TypeError, ValueError) as exc:  # a CA bundle or certificate that cannot be read
        raise CliError(str(exc)) from None


def no_answer(target: Target) -> str:
    """Return the line that says bk-job did not answer within ``--timeout``, and what to check."""
    return (
        f"no answer from {target.server} within {target.timeout:g} s (--timeout)\n"
        "check --url / BKJOB_URL, that bk-job is up and that this machine can reach it; "
        "a busy server may need a longer --timeout"
    )


#: Codes that concern one job or step, not the whole server, scope or identity.
_JOB_LEVEL_CODES = frozenset({1244006, 1244007, 1244025})


def is_job_level(exc: errors.BkJobError) -> bool:
    """Tell whether an error is about one job (it does not exist) rather than about everything."""
    return isinstance(exc, errors.NotFoundError) and exc.code in _JOB_LEVEL_CODES


def explain(exc: errors.BkJobError, target: Target, *, api: str | None = None) -> str:
    """Return what went wrong and what to check, for a person; never with a secret in it."""
    where = f"{target.shown_url} ({target.flavor.value})"
    text = str(exc)
    if isinstance(exc, errors.EndpointNotFoundError):  # (the hint below is the flavor's own)
        text = text.removesuffix(f"; {exc.hint}")
    if isinstance(exc, errors.ConnectError):
        return (
            f"cannot connect to {where}: {text}\n"
            "check --url / BKJOB_URL, and that this machine can reach it"
        )
    if isinstance(exc, errors.TimeoutError):
        return no_answer(target)
    if isinstance(exc, errors.CertificateError):
        return (
            f"TLS failed with {where}: {text}\n"
            "pass the CA that signed its certificate (--ca-bundle, BKJOB_CA_BUNDLE), a client "
            "certificate (--client-cert), or check the host name in --url"
        )
    if isinstance(exc, errors.TransportError):
        return f"cannot talk to {where}: {text}"
    if isinstance(exc, errors.ResponseFormatError):
        return (
            f"{where} does not answer like bk-job: {text}\n"
            f"check --url ({target.flavor.value}: {_url_hint(target.flavor)}) and --flavor"
        )
    if isinstance(exc, errors.AuthenticationError):
        return (
            f"bk-job rejected the credentials: {text}\n"
            "check BKJOB_APP_CODE / BKJOB_APP_SECRET and the user identity "
            "(BKJOB_USERNAME, BKJOB_BK_TOKEN or BKJOB_ACCESS_TOKEN)"
        )
    if isinstance(exc, errors.PermissionDeniedError):
        lines = [f"permission denied: {text}", *permission_lines(exc.permission)]
        return "\n".join(lines)
    if isinstance(exc, errors.NotFoundError):
        if is_job_level(exc):
            return f"not found in scope {target.scope}: {text}"
        if exc.code == 1243051:
            return f"scope {target.scope} does not exist on {where}: {text}"
    if isinstance(exc, (errors.NotFoundError, errors.EndpointNotFoundError)):
        return (
            f"{where} has no such API: {text}\n"
            f"wrong --flavor or --url? {target.flavor.value} expects "
            f"{_url_hint(target.flavor)}; the other flavors are "
            + ", ".join(f.value for f in ApiFlavor if f is not target.flavor)
        )
    if isinstance(exc, errors.UnsupportedOperationError):
        return f"{text} (--flavor {target.flavor.value})"
    text = f"{api + ': ' if api and api not in text else ''}{text}"
    if _containers_unread(exc, target):
        text += (
            "\nif the job runs in Kubernetes containers: bk-job's v2 and v3 cannot read them "
            "(code 1240002); only the gateway v4 can, with --flavor apigw-v4"
        )
    return text


#: The reads of a job's hosts that bk-job's v2/v3 fail with 1240002 on a container job.
_PER_HOST_READS = frozenset(
    {"get_job_instance_status", "get_step_instance_status", "get_job_instance_log"}
)


def _containers_unread(exc: errors.BkJobError, target: Target) -> bool:
    """Tell whether ``exc`` may be a v2/v3 per-host read of a job run in containers."""
    return (
        isinstance(exc, errors.ServerError)
        and exc.code == 1240002
        and exc.api in _PER_HOST_READS
        and target.flavor is not ApiFlavor.APIGW_V4
    )


def permission_lines(permission: Mapping[str, Any] | None) -> list[str]:
    """Return the permission the server says is missing, one readable line per action."""
    if not isinstance(permission, Mapping):
        return []
    system = permission.get("system_name") or permission.get("system_id") or "?"
    lines = [f"  system: {system}"]
    actions = permission.get("actions")
    for action in actions if isinstance(actions, list) else []:
        if not isinstance(action, Mapping):
            continue
        name = action.get("name") or action.get("id") or "?"
        action_id = action.get("id")
        label = f"{name} ({action_id})" if action_id and action_id != name else str(name)
        resources = _resource_names(action.get("related_resource_types"))
        lines.append(f"  action: {label}" + (f" on {', '.join(resources)}" if resources else ""))
    apply_url = permission.get("apply_url")
    if isinstance(apply_url, str) and apply_url:
        lines.append(f"  apply at: {apply_url}")
    return lines


def _resource_names(types: Any) -> list[str]:
    names = []
    for rtype in types if isinstance(types, list) else []:
        if not isinstance(rtype, Mapping):
            continue
        type_name = rtype.get("type_name") or rtype.get("type") or "resource"
        for path in rtype.get("instances") or [[]]:
            nodes = path if isinstance(path, list) else [path]
            labels = [
                str(node.get("name") or node.get("id"))
                for node in nodes
                if isinstance(node, Mapping) and (node.get("name") or node.get("id"))
            ]
            names.append(f"{type_name} {'/'.join(labels)}" if labels else str(type_name))
    return names


def policy_from(args: argparse.Namespace, connection_limit: int) -> PollPolicy:
    """Return the poll policy of ``--interval``, ``--max-interval`` and ``--deadline``."""
    given = {} if args.max_interval is None else {"max_interval": args.max_interval}
    try:
        return PollPolicy(
            interval=args.interval,
            deadline=args.deadline,
            max_in_flight=min(args.max_in_flight, connection_limit),
            **given,
        )
    except (TypeError, ValueError) as exc:
        raise CliError(f"invalid polling option: {exc}") from None


def serve_metrics(
    ctx: Context, stack: contextlib.AsyncExitStack, port: int | None
) -> CollectorRegistry | None:
    """Serve a new registry's metrics on 127.0.0.1:``port`` until ``stack`` closes; return the
    registry (``None``: no port given)."""
    if port is None:
        return None
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:
        raise CliError(
            "--metrics-port needs prometheus-client: pip install 'bkjob-async[prometheus]'"
        ) from None
    registry = CollectorRegistry()
    try:
        server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    except OSError as exc:
        raise CliError(f"--metrics-port {port}: cannot serve: {exc.strerror}") from None

    def stop() -> None:
        server.shutdown()
        server.server_close()

    stack.callback(stop)
    ctx.err(f"metrics at http://127.0.0.1:{server.server_port}/metrics")
    return registry
