"""Check and spell request values for each API generation; pure functions, no state.

Everything a caller passes is checked here (type, range, known codes) so that bad input raises
``TypeError``/``ValueError`` before a request exists, and the v2 and v3 spellings of targets,
accounts, file sources and variables live side by side.
"""

from __future__ import annotations

import base64
import datetime as _dt
import ipaddress
import re
import urllib.parse
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from ._checks import check_int, is_int
from .config import MAX_ID, check_id
from .models import Host, ScriptLanguage
from .models.requests import (
    STAGGERED,
    Account,
    FileSource,
    GlobalVar,
    RollingConfig,
    Targets,
    rolling_batches,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

T = TypeVar("T")

#: A host as the log APIs take it: a ``bk_host_id``, a ``Host``, or ``(bk_cloud_id, ip)``.
HostRef = int | Host | tuple[int, str]

#: The longest job timeout bk-job accepts (``JobConstants.MAX_JOB_TIMEOUT_SECONDS``, 72 h).
MAX_TIMEOUT_SECONDS = 259200
#: Hosts per ``batch_get_job_instance_ip_log`` call; bk-job refuses more (1241007).
MAX_LOG_HOSTS = 500
#: The longest page of bk-job's plan, script and account lists (``EsbJobReq``).
MAX_PAGE_LENGTH = 1000
#: The widest ``get_job_instance_list`` window (``Consts.MAX_SEARCH_TASK_HISTORY_RANGE_MILLS``).
MAX_HISTORY_WINDOW = _dt.timedelta(days=30)
#: The largest script text sent (``script_content``), in UTF-8 bytes before base64: bk-job keeps
#: a script in a MySQL ``MEDIUMTEXT`` column (16 MiB) after base64 and JSON; this client stops
#: well below, so that a script read from the wrong file fails here with a clear message.
MAX_SCRIPT_BYTES = 5 * 1024 * 1024
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_MS = _dt.timedelta(milliseconds=1)


def b64(text: str) -> str:
    return b64_bytes(text.encode("utf-8"))


def b64_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_script(text: str) -> str:
    """Return ``text`` if it fits ``MAX_SCRIPT_BYTES`` in UTF-8, else raise ``ValueError``."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SCRIPT_BYTES:
        raise ValueError(
            f"script_content is {size:,} bytes; the most this client sends is "
            f"{MAX_SCRIPT_BYTES:,} (5 MiB): put large payloads in a file transfer instead"
        )
    return text


def script_source(
    script_content: str | None,
    script_id: str | None,
    script_version_id: int | None,
    *,
    sized: bool = True,
) -> dict[str, Any]:
    """Check that exactly one of the three names the script; return the three checked, the
    text base64-encoded (and, ``sized``, within ``MAX_SCRIPT_BYTES``)."""
    sources = [s for s in (script_content, script_id, script_version_id) if s is not None]
    if len(sources) != 1:
        raise ValueError("pass exactly one of script_content, script_id or script_version_id")
    if script_content is not None and not isinstance(script_content, str):
        raise TypeError("script_content must be a str (the client base64-encodes it)")
    text = script_content
    if text is not None and sized:
        text = check_script(text)
    return {
        "script_content": None if text is None else b64(text),
        "script_id": None if script_id is None else check_text(script_id, "script_id"),
        "script_version_id": None
        if script_version_id is None
        else check_id(script_version_id, "script_version_id"),
    }


def check_count(value: object, name: str, minimum: int = 0) -> int:
    value = check_int(value, name)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > MAX_ID:
        raise ValueError(f"{name} must be <= 2**63-1 (a Java long), got {value}")
    return value


#: ``ScriptTypeEnum``'s codes, for messages.
_LANGUAGES = "1 shell, 2 bat, 3 perl, 4 python, 5 powershell, 6 sql"


def check_language(value: object, name: str = "script_language") -> ScriptLanguage:
    """Return ``value`` (a ``ScriptLanguage``, its int code, or that code as a str: bk-sops' forms
    send ``"1"``) as a ``ScriptLanguage``; raise naming ``name`` and the codes it takes."""
    code = int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else value
    if not is_int(code):
        raise TypeError(
            f"{name} must be a ScriptLanguage, its code or that code as a str ({_LANGUAGES}), "
            f"not {value!r}"
        )
    try:
        return ScriptLanguage(code)
    except ValueError:
        raise ValueError(f"{name} must be one of {_LANGUAGES}, got {value!r}") from None


def optional_param(value: object, name: str = "script_param") -> str | None:
    """Return a parameter string, or ``None`` for none: ``None`` or ``""`` (nodeman's default)."""
    if value is None or value == "":
        return None
    return check_text(value, name)


def check_text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty str")
    return value


#: What ``java.net.URI`` refuses in a URL (``URISyntaxException``): spaces, controls and these.
_NOT_IN_URI = re.compile(r'[\x00-\x20\x7f"<>\\^`{|}]')
#: A host ``java.net.URI`` reads as a server (else ``getHost()`` is null): a name or an address.
_URI_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")


def check_callback(url: object) -> str | None:
    """Check a launch's ``callback_url`` as bk-job's ``@ValidCallbackUrl`` does before its
    allowed list (``CallbackUrlValidateServiceImpl.isValid``): a URI, ``http``/``https``, a
    host, no user info (1240003 otherwise). The allowed list is the server's to check."""
    if url is None or url == "":
        return None
    text = check_text(url, "callback_url")
    parts = urllib.parse.urlsplit(text) if not _NOT_IN_URI.search(text) else None
    netloc = "" if parts is None else parts.netloc
    end = netloc.find("]") + 1 if netloc.startswith("[") else netloc.find(":")
    host, port = (netloc, "") if end <= 0 or end >= len(netloc) else (netloc[:end], netloc[end:])
    if port and not re.fullmatch(r":\d*", port):
        host = ""  # a registry authority: java.net.URI reads no host
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or "@" in netloc
        or not _URI_HOST.fullmatch(host)
    ):
        raise ValueError(
            f"callback_url must be an http:// or https:// URL with a host and no user info, "
            f"got {text!r} (bk-job refuses it: ValidCallbackUrl)"
        )
    return text


#: A global variable in a path (``${name}``): bk-job takes such a path whatever its form.
_PATH_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_-]*\}")
#: A Windows path from a drive's root (``C:\``, ``C:/``).
_DRIVE_ROOT = re.compile(r"[A-Za-z]:[/\\]")


def check_path(value: object, name: str) -> str:
    """Return ``value`` if bk-job can take it as a file path on a host: absolute (``/...``, or
    ``C:\\...`` on Windows) or naming a ``${variable}``.

    bk-job refuses any other path (``FilePathValidateUtil``) with an error that names its own
    field (``file_target_path``, ``file_source.file_list``); refused here first, named as the
    caller wrote it. bk-job's finer rules (``/..``, characters a Windows name cannot hold) are
    left to it.
    """
    path = check_text(value, name).strip()
    if path.startswith("/") or _DRIVE_ROOT.match(path) or _PATH_VARIABLE.search(path):
        return str(value)
    raise ValueError(
        f"{name} must be an absolute path (/data/app, or C:\\data on Windows) or name a "
        f"${{variable}}: bk-job refuses the relative path {path!r}"
    )


def optional_text(value: str | None, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")
    return value


def check_operation(value: object, enum_type: type[T]) -> T:
    check_int(value, "operation", f"a {enum_type.__name__}")
    try:
        return enum_type(value)  # type: ignore[call-arg]
    except ValueError:
        codes = ", ".join(f"{int(m)} {m.name}" for m in enum_type)  # type: ignore[attr-defined]
        raise ValueError(
            f"unknown {enum_type.__name__} {value}; expected one of: {codes}"
        ) from None


def check_timeout(timeout: int | None, name: str) -> int | None:
    """Check a timeout in seconds: 1..259200 (72 h); a scope may configure a lower cap.

    ``name`` is the caller's argument (``script_timeout``, ``transfer_timeout``), named in the
    error: the wire's ``timeout`` is not a name the caller wrote.
    """
    if timeout is None:
        return None
    check_int(timeout, name)
    if not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
        raise ValueError(f"{name} must be 1..{MAX_TIMEOUT_SECONDS} seconds (72 h), got {timeout}")
    return timeout


def check_batch(batch: int) -> int:
    """Check a rolling batch number: batches are numbered from 1 (§7.6)."""
    check_int(batch, "batch")
    if batch < 1:
        raise ValueError(
            f"batch must be >= 1 (rolling batches are numbered from 1), got {batch}; "
            "leave batch out to read every batch"
        )
    return batch


def optional_count(value: int | None, name: str) -> int | None:
    return None if value is None else check_count(value, name, 1)


def optional_id(value: int | None, name: str) -> int | None:
    return None if value is None else check_id(value, name)


def step_ids(job_instance_id: int, step_instance_id: int) -> dict[str, int]:
    return {
        "job_instance_id": check_id(job_instance_id, "job_instance_id"),
        "step_instance_id": check_id(step_instance_id, "step_instance_id"),
    }


def check_length(value: int, maximum: int) -> int:
    check_count(value, "length", 1)
    if value > maximum:
        raise ValueError(f"length must be 1..{maximum}, got {value}")
    return value


def texts(**values: str | None) -> dict[str, str | None]:
    """Return optional text filters, each checked (``None`` or a non-empty str)."""
    return {k: None if v is None else check_text(v, k) for k, v in values.items()}


def paging(start: int, length: int) -> dict[str, int]:
    """Check a list's page: ``start`` >= 0 and ``length`` 1..1000 (``MAX_PAGE_LENGTH``)."""
    return {"start": check_count(start, "start"), "length": check_length(length, MAX_PAGE_LENGTH)}


def known_code(value: int | None, enum_type: type[T], name: str) -> int | None:
    """Return the code of a member of ``enum_type``; bk-job refuses codes it does not know."""
    if value is None:
        return None
    check_int(value, name, f"a {enum_type.__name__}")
    if not enum_type(value).is_known:  # type: ignore[call-arg, attr-defined]
        codes = ", ".join(f"{int(m)} {m.name}" for m in enum_type)  # type: ignore[attr-defined]
        raise ValueError(f"unknown {name} {value}; expected one of: {codes}")
    return int(value)


def epoch_ms(moment: _dt.datetime, name: str) -> int:
    if not isinstance(moment, _dt.datetime):
        raise TypeError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, e.g. datetime.now(timezone.utc)")
    return (moment - _EPOCH) // _MS


def history_window(created_from: _dt.datetime, created_to: _dt.datetime) -> tuple[int, int]:
    """Return the window in epoch ms as bk-job checks it: from >= 1 ms, from < to, <= 30 days."""
    begin, end = epoch_ms(created_from, "created_from"), epoch_ms(created_to, "created_to")
    if begin < 1:
        raise ValueError("created_from must be after 1970-01-01 00:00:00 UTC")
    if end <= begin:
        raise ValueError("created_from must be before created_to")
    if end - begin > MAX_HISTORY_WINDOW // _MS:
        raise ValueError(
            f"created_from and created_to are more than {MAX_HISTORY_WINDOW.days} days apart"
        )
    return begin, end


def host_refs(hosts: Sequence[HostRef]) -> tuple[HostRef, ...]:
    """Return ``hosts`` as a tuple; one host or a string is refused, not iterated."""
    if isinstance(hosts, (str, bytes, int, Host)) or not isinstance(hosts, Iterable):
        raise TypeError(f"hosts must be a sequence of hosts, not {type(hosts).__name__}")
    return tuple(hosts)


def host_ref(host: object) -> dict[str, Any]:
    """Spell one host as the log APIs read it: ``{bk_host_id}``, else ``{bk_cloud_id, ip}``."""
    if isinstance(host, Host):
        if host.bk_host_id is not None:
            return {"bk_host_id": check_id(host.bk_host_id, "bk_host_id")}
        if host.ip and host.bk_cloud_id is not None:
            return cloud_ip(host.bk_cloud_id, host.ip)
        raise ValueError(f"host {host} has no bk_host_id and no bk_cloud_id with an ip")
    if isinstance(host, tuple) and len(host) == 2:
        return cloud_ip(*host)
    if not is_int(host):
        raise TypeError(
            "a host must be a bk_host_id int, a Host or a (bk_cloud_id, ip) pair, "
            f"not {type(host).__name__}"
        )
    return {"bk_host_id": check_id(host, "bk_host_id")}


def cloud_ip(cloud: object, ip: object) -> dict[str, Any]:
    cloud_id = check_count(cloud, "bk_cloud_id")
    text = check_text(ip, "ip")
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"not an IPv4 or IPv6 address: {text!r}") from None
    return {"bk_cloud_id": cloud_id, "ip": text}


def check_targets(targets: Targets) -> Targets:
    if not isinstance(targets, Targets):
        raise TypeError(f"targets must be a Targets, not {type(targets).__name__}")
    if not targets:
        raise ValueError(
            "targets is empty: give host ids, ips, dynamic groups, topology nodes or containers"
        )
    return targets


def v2_only_scalars(**unsupported: Any) -> None:
    given = [name for name, value in unsupported.items() if value]
    if given:
        raise ValueError(f"the ESB v2 API does not support: {', '.join(given)}")


def _no_ipv6(targets: Targets, alternative: str) -> None:
    """bk-job validates ``ip_list[].ip`` as IPv4 and refuses the launch (1240003)."""
    for cloud, ip in targets.ips:
        try:
            is_v6 = ipaddress.ip_address(ip).version == 6
        except ValueError:
            is_v6 = ":" in ip
        if is_v6:
            raise ValueError(
                f"{cloud}:{ip} is an IPv6 address; bk-job accepts only IPv4 addresses in "
                f"ip_list: {alternative}"
            )


def no_containers(targets: Targets) -> Targets:
    """Refuse Kubernetes containers: only the gateway v4 runs jobs in them."""
    if targets.containers:
        raise ValueError(
            "containers (KubeContainerFilter) are execute objects of bk-job's gateway v4 only: "
            "use flavor 'apigw-v4'"
        )
    return targets


def v3_server(targets: Targets) -> dict[str, Any]:
    """Spell ``target_server`` (also a file source's ``server`` and a host variable's).

    bk-job reads ``ip_list`` only when ``host_id_list`` is empty, so a mix would silently
    run on the host ids alone: it is refused here, as is an IPv6 address in ``ips``.
    """
    no_containers(targets)
    if targets.host_ids and targets.ips:
        raise ValueError(
            "targets has both host_ids and ips: bk-job v3 ignores ip_list when host_id_list is "
            "non-empty, so the ips would be silently dropped; give every host by id, or every "
            "host by (cloud, ip)"
        )
    _no_ipv6(targets, "target IPv6 hosts by host id (Targets(host_ids=...))")
    groups = [{"id": g} for g in targets.dynamic_group_ids]
    return _server(targets, "dynamic_group_list", groups)


def v2_targets(targets: Targets) -> dict[str, Any]:
    """Spell v2 targets as one ``target_server``, the only place v2 reads when it is present.

    v2 builds hosts from ``(bk_cloud_id, ip)`` alone and answers a row without ``ip`` with an
    internal error, so host ids are refused here; so is an IPv6 address (IPv4 only).
    """
    no_containers(targets)
    if targets.host_ids:
        raise ValueError(
            "the ESB v2 API cannot target hosts by host id (bk-job fails such a launch with "
            "1240002): give them as ips=[(cloud, ip)], topology nodes or dynamic groups, or use "
            "flavor 'esb-jobv3' or 'apigw-v3'"
        )
    _no_ipv6(targets, "use flavor 'esb-jobv3' or 'apigw-v3' and target IPv6 hosts by host id")
    groups = list(targets.dynamic_group_ids)
    return {"target_server": _server(targets, "dynamic_group_id_list", groups)}


def v2_ip_list(targets: Targets) -> list[dict[str, Any]]:
    """Spell v2 targets as the top-level ``ip_list``: the only targets v2's
    ``push_config_file`` reads (it passes no ``target_server`` on), so ``(cloud, ip)`` alone."""
    no_containers(targets)
    if targets.host_ids or targets.dynamic_group_ids or targets.topo_nodes:
        raise ValueError(
            "ESB v2 push_config_file reads only ips=[(cloud, ip)] (bk-job ignores its "
            "target_server): give the hosts by ip, or use flavor 'esb-jobv3' or 'apigw-v3'"
        )
    _no_ipv6(targets, "use flavor 'esb-jobv3' or 'apigw-v3' and target IPv6 hosts by host id")
    return [{"bk_cloud_id": c, "ip": ip} for c, ip in targets.ips]


def _server(targets: Targets, groups_key: str, groups: list[Any]) -> dict[str, Any]:
    """Spell the non-empty lists of ``targets`` in bk-job's order; each generation names and
    shapes its dynamic groups (``groups_key``, ``groups``) its own way, the rest alike."""
    lists: dict[str, list[Any]] = {
        "host_id_list": list(targets.host_ids),
        "ip_list": [{"bk_cloud_id": c, "ip": ip} for c, ip in targets.ips],
        groups_key: groups,
        "topo_node_list": [{"node_type": t, "id": i} for t, i in targets.topo_nodes],
    }
    return {key: rows for key, rows in lists.items() if rows}


def v3_account(account: Account) -> dict[str, Any]:
    if not isinstance(account, Account):
        raise TypeError(f"account must be an Account, not {type(account).__name__}")
    return {"account_alias": account.alias, "account_id": account.id}


def v2_account(account: Account) -> str:
    if not isinstance(account, Account) or account.alias is None:
        raise ValueError("the ESB v2 API names accounts: pass Account(alias=...)")
    return account.alias


def _host_files(source: FileSource, v2: bool) -> list[str]:
    """Return a source's files; files on hosts are paths there, absolute (``check_path``).

    v3 checks the paths of files on hosts (``file_type`` 1) only; v2 checks every file's.
    """
    if v2 or source.file_type == 1:
        for path in source.files:
            check_path(path, "a FileSource's files")
    return list(source.files)


def v3_file_source(source: FileSource) -> dict[str, Any]:
    spelled: dict[str, Any] = {
        "file_list": _host_files(source, False),
        "file_type": source.file_type,
    }
    if source.server is not None:
        spelled["server"] = v3_server(check_targets(source.server))
    if source.account is not None:
        spelled["account"] = {
            k: v
            for k, v in (("alias", source.account.alias), ("id", source.account.id))
            if v is not None
        }
    if source.file_source_id is not None:
        spelled["file_source_id"] = source.file_source_id
    if source.file_source_code is not None:
        spelled["file_source_code"] = source.file_source_code
    return spelled


def v2_file_source(source: FileSource) -> dict[str, Any]:
    spelled: dict[str, Any] = {"files": _host_files(source, True), "file_type": source.file_type}
    if source.server is not None:
        spelled.update({k: v for k, v in v2_targets(check_targets(source.server)).items() if v})
    if source.account is not None:
        spelled["account"] = v2_account(source.account)
    if source.file_source_id is not None:
        spelled["file_source_id"] = source.file_source_id
    return spelled


def v3_global_var(var: GlobalVar) -> dict[str, Any]:
    spelled: dict[str, Any] = {"id": var.id} if var.id is not None else {"name": var.name}
    if var.server is not None:
        spelled["server"] = v3_server(check_targets(var.server))
    else:
        spelled["value"] = var.value
    return spelled


def v2_global_var(var: GlobalVar) -> dict[str, Any]:
    spelled: dict[str, Any] = {"id": var.id} if var.id is not None else {"name": var.name}
    if var.server is not None:
        spelled.update({k: v for k, v in v2_targets(check_targets(var.server)).items() if v})
    else:
        spelled["value"] = var.value
    return spelled


def _host_count(targets: Targets) -> int | None:
    """Return how many hosts ``targets`` names, when that is known before sending."""
    if targets.dynamic_group_ids or targets.topo_nodes or targets.containers:
        return None
    if targets.host_ids and targets.ips:
        return None  # (v4) the same host may be named both ways
    return len(set(targets.host_ids)) or len(set(targets.ips))


def rolling(
    config: RollingConfig | None,
    targets: Targets,
    sources: Sequence[FileSource] | None = None,
) -> dict[str, Any] | None:
    """Check and spell ``rolling_config`` (v3 and v4 alike: ``EsbRollingConfigDTO``).

    ``sources`` is a transfer's file sources (``None`` for a script). The batch count is
    checked as bk-job counts it when the targets' host count is known (hosts by id or by ip).
    """
    if config is None:
        return None
    if config.file_source is not None:
        if sources is None:
            raise ValueError("rolling by source file is for file transfers, not scripts")
        if any(source.file_type != 1 for source in sources):
            raise ValueError(
                "rolling by source file takes server files only (bk-job refuses other "
                "sources with 1244035)"
            )
        limits = {
            "max_execute_object_num_in_batch": config.file_source.max_hosts_in_batch,
            "max_file_num_of_single_execute_object": config.file_source.max_files_per_host,
        }
        return {
            "type": 2,
            "mode": config.mode,
            "file_source": {k: v for k, v in limits.items() if v is not None},
        }
    expression = check_text(config.expression, "rolling expression")
    hosts = _host_count(targets)
    if hosts is not None:
        batches = len(rolling_batches(expression, hosts))
        if batches > config.max_batches and config.execution_mode == STAGGERED:
            raise ValueError(
                f"rolling expression {expression!r} cuts {hosts} hosts into {batches} "
                f"batches; staggered rolling takes at most {config.max_batches} (1241012)"
            )
    else:
        rolling_batches(expression, 1)  # the expression parses
    if config.execution_mode != STAGGERED:
        return {"expression": expression, "mode": config.mode}
    fixed, low, high = config.waits
    return {
        "expression": expression,
        "execution_mode": STAGGERED,
        "batch_start_wait_fixed_ms": fixed,
        "batch_start_wait_random_min_ms": low,
        "batch_start_wait_random_max_ms": high,
    }
