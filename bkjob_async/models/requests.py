"""Rule: frozen values a caller builds to launch jobs, checked when built; no wire knowledge.

Frozen values a caller builds to launch jobs: targets, file sources, config files, variables.

They carry no wire knowledge; ``bkjob_async._protocol`` spells them per API generation.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar

import attrs

from .._checks import check_many, is_int
from ..config import MAX_ID, check_id

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "Account",
    "ConfigFile",
    "FileSource",
    "FileSourceRolling",
    "GlobalVar",
    "KubeContainerFilter",
    "LabelSelector",
    "RollingConfig",
    "Targets",
]

T = TypeVar("T")


#: The forms a host id takes, for messages.
_HOST_ID_FORMS = "an int, a numeric str ('101') or a host row ({'bk_host_id': 101})"
#: The forms a ``Targets.ips`` entry takes, for messages.
_IP_FORMS = (
    "'cloud:ip', 'ip' (cloud 0), a (cloud_id, ip) pair or a host row "
    "({'bk_cloud_id': 0, 'ip': '10.0.0.1'}, as bk-job and its SDK write it)"
)


def _number(value: object) -> object:
    """Return a numeric str (bk-job's forms send ``"0"``) as an int; anything else as it is."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return value


def _ints(values: Iterable[int | str | Mapping[str, object]]) -> tuple[int, ...]:
    ids = []
    for n, given in enumerate(check_many(values, "host_ids")):
        entry: object = given
        if isinstance(entry, Mapping):
            if "bk_host_id" not in entry:
                raise ValueError(f"host_ids[{n}]: a host row needs 'bk_host_id'; {_HOST_ID_FORMS}")
            entry = entry["bk_host_id"]
        value = _number(entry)
        if not is_int(value):
            raise TypeError(f"host_ids[{n}] must be {_HOST_ID_FORMS}, got {value!r}")
        ids.append(check_id(value, f"host_ids[{n}]"))
    return tuple(ids)


def _texts(values: Iterable[str]) -> tuple[str, ...]:
    texts = check_many(values, "dynamic_group_ids")
    if not all(isinstance(t, str) and t for t in texts):
        raise TypeError("dynamic_group_ids must be non-empty strings")
    return texts


def _nodes(values: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    nodes = []
    for node in check_many(values, "topo_nodes"):
        node_type, node_id = node
        if not isinstance(node_type, str) or not node_type:
            raise TypeError("a topology node type must be a non-empty str such as 'module'")
        nodes.append((node_type, check_id(node_id, "topology node id")))
    return tuple(nodes)


def _cloud_ip(cloud_id: object, ip: object, where: str) -> tuple[int, str]:
    cloud_id = _number(cloud_id)
    if not is_int(cloud_id) or not 0 <= cloud_id <= MAX_ID:
        raise ValueError(
            f"{where}: a cloud area id (bk_cloud_id) must be an int or a numeric str in "
            f"0..2**63-1, got {cloud_id!r}; an entry is {_IP_FORMS}"
        )
    if not isinstance(ip, str) or not ip:
        raise ValueError(
            f"{where}: an ip must be a non-empty str, got {ip!r}; an entry is {_IP_FORMS}"
        )
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(f"{where}: not an IPv4 or IPv6 address: {ip!r}") from None
    return cloud_id, ip


def _ips(
    values: Iterable[tuple[int, str] | str | Mapping[str, object]],
) -> tuple[tuple[int, str], ...]:
    """Accept ``(cloud_id, ip)`` pairs, ``"cloud:ip"`` / ``"ip"`` strings (cloud 0), or host
    rows ``{"bk_cloud_id": 0, "ip": ...}`` (bk-job's ``ip_list`` rows, the SDK's dicts)."""
    pairs = []
    for n, value in enumerate(check_many(values, "ips")):
        where = f"ips[{n}]"
        if isinstance(value, str):
            cloud, sep, ip = value.rpartition(":") if value.count(":") == 1 else ("", "", value)
            if sep and not (cloud.isascii() and cloud.isdigit()):
                raise ValueError(f"{where}: invalid host {value!r}; an entry is {_IP_FORMS}")
            pairs.append(_cloud_ip(int(cloud) if sep else 0, ip, where))
        elif isinstance(value, Mapping):
            if "ip" not in value:
                raise ValueError(
                    f"{where}: a host row needs 'ip' (and 'bk_cloud_id'); an entry is {_IP_FORMS}"
                )
            pairs.append(_cloud_ip(value.get("bk_cloud_id", 0), value["ip"], where))
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            pairs.append(_cloud_ip(value[0], value[1], where))
        else:
            raise TypeError(f"{where} must be {_IP_FORMS}, got {value!r}")
    return tuple(pairs)


def _files(values: Iterable[str]) -> tuple[str, ...]:
    files = check_many(values, "files")
    if not files or not all(isinstance(f, str) and f for f in files):
        raise ValueError("files must be a non-empty sequence of non-empty paths")
    return files


def _optional_id(_: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None:
        check_id(value, attribute.name)


#: ``LabelSelectorOperatorEnum``: the operators of a pod label selector.
LABEL_OPERATORS = frozenset(
    {"exists", "not_exists", "equals", "not_equals", "in", "not_in", "gt", "lt"}
)
#: Workload kinds bk-job's docs name (``kube_workload_filter.kind``).
WORKLOAD_KINDS = frozenset({"deployment", "statefulSet", "daemonSet", "customResource"})


def _names(values: Iterable[str]) -> tuple[str, ...]:
    names = check_many(values, "names")
    if not all(isinstance(n, str) and n for n in names):
        raise TypeError("names must be non-empty strings")
    return names


@attrs.frozen
class LabelSelector:
    """One pod label condition: ``key`` and ``operator`` (``equals``, ``in``, ``exists``, ...);
    ``values`` for ``in``/``not_in`` (several) and the comparisons (one)."""

    key: str
    operator: str
    values: tuple[str, ...] = attrs.field(default=(), converter=_names)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise TypeError("a label selector's key must be a non-empty str")
        if self.operator not in LABEL_OPERATORS:
            raise ValueError(
                f"unknown label operator {self.operator!r}; expected one of "
                f"{', '.join(sorted(LABEL_OPERATORS))}"
            )
        if self.operator in ("in", "not_in") and not self.values:
            raise ValueError(f"the {self.operator!r} operator needs values")
        if self.operator in ("exists", "not_exists") and self.values:
            raise ValueError(f"the {self.operator!r} operator takes no values")


@attrs.frozen
class KubeContainerFilter:
    """Kubernetes containers to run on (gateway v4 ``kube_container_filter``): every container
    of clusters ``cluster_uids`` that the other filters all match.

    A filter names its clusters and narrows them by namespace, workload (``workload_kind``
    with ``workload_names``), pod name or labels, and container name. bk-job refuses a filter
    of clusters alone unless ``whole_cluster=True`` says to run in every container of them; and
    it ignores the other filters when ``whole_cluster`` is set, so both together are refused
    here (``V4ExecuteTargetNotEmptyAndContainerSafely``, ``V4ContainerFilter``).
    """

    cluster_uids: tuple[str, ...] = attrs.field(converter=_names)
    namespaces: tuple[str, ...] = attrs.field(default=(), converter=_names)
    workload_kind: str | None = None
    workload_names: tuple[str, ...] = attrs.field(default=(), converter=_names)
    pod_names: tuple[str, ...] = attrs.field(default=(), converter=_names)
    label_selectors: tuple[LabelSelector, ...] = attrs.field(default=(), converter=tuple)
    label_selector_expr: str | None = None
    container_names: tuple[str, ...] = attrs.field(default=(), converter=_names)
    whole_cluster: bool = False

    def __attrs_post_init__(self) -> None:
        if not self.cluster_uids:
            raise ValueError("a KubeContainerFilter names at least one cluster (cluster_uids)")
        if (self.workload_kind is None) != (not self.workload_names):
            raise ValueError("give workload_kind and workload_names together")
        if self.workload_kind is not None and self.workload_kind not in WORKLOAD_KINDS:
            raise ValueError(
                f"unknown workload kind {self.workload_kind!r}; expected one of "
                f"{', '.join(sorted(WORKLOAD_KINDS))}"
            )
        if not all(isinstance(s, LabelSelector) for s in self.label_selectors):
            raise TypeError("label_selectors must be LabelSelector values")
        narrowed = self.narrowed
        if self.whole_cluster and narrowed:
            raise ValueError(
                "whole_cluster=True runs in every container of the clusters and bk-job ignores "
                "the other filters: give one or the other"
            )
        if not self.whole_cluster and not narrowed:
            raise ValueError(
                "a filter of clusters alone runs in every container of them: say so with "
                "whole_cluster=True (bk-job refuses it otherwise), or narrow it"
            )

    @property
    def narrowed(self) -> bool:
        """Tell whether a filter besides the clusters is given."""
        return bool(
            self.namespaces
            or self.workload_names
            or self.pod_names
            or self.label_selectors
            or self.label_selector_expr
            or self.container_names
        )


def _filters(values: Iterable[KubeContainerFilter]) -> tuple[KubeContainerFilter, ...]:
    filters = check_many(values, "containers")
    if not all(isinstance(f, KubeContainerFilter) for f in filters):
        raise TypeError("containers must be KubeContainerFilter values")
    return filters


@attrs.frozen
class Targets:
    """Hosts to run on, by host id, ``(cloud, ip)``, CMDB dynamic group or topology node.

    ``Targets(host_ids=[101, 102])``, ``Targets(ips=["0:10.0.0.1"])``,
    ``Targets(topo_nodes=[("module", 42)])``. BlueKing's own shapes are taken too: host rows
    (``ips=[{"bk_cloud_id": 0, "ip": "10.0.0.1"}]``, ``host_ids=[{"bk_host_id": 101}]``) and
    numeric strings where bk-job takes numbers (``"101"``, ``{"bk_cloud_id": "0", ...}``).

    What bk-job reads depends on the API flavor, and the client refuses (``ValueError``, before
    any request) what it would silently drop or fail on:

    * v3 (``apigw-v3``, ``esb-jobv3``): bk-job ignores ``ip_list`` when ``host_id_list`` is
      non-empty, so ``host_ids`` and ``ips`` together are refused; ``ips`` must be IPv4 (target
      IPv6 hosts by host id).
    * v2 (``esb-v2``): no host ids at all (bk-job builds v2 hosts from ``(cloud, ip)`` only);
      ``ips`` must be IPv4; every kind of target is sent in ``target_server``, the only place
      v2 reads when it is present.
    * v4 (``apigw-v4``): hosts as on v3 (by id and by ip together too), or Kubernetes
      ``containers`` (``KubeContainerFilter``), never both: bk-job refuses hosts and
      containers in one request, and so does ``Targets`` (a ``ValueError`` when it is built).
      Containers exist on the gateway v4 alone: another flavor refuses them.
    """

    host_ids: tuple[int, ...] = attrs.field(default=(), converter=_ints)
    ips: tuple[tuple[int, str], ...] = attrs.field(default=(), converter=_ips)
    dynamic_group_ids: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    topo_nodes: tuple[tuple[str, int], ...] = attrs.field(default=(), converter=_nodes)
    containers: tuple[KubeContainerFilter, ...] = attrs.field(default=(), converter=_filters)

    def __attrs_post_init__(self) -> None:
        if self.containers and self.hosts:
            raise ValueError(
                "hosts and containers cannot run in one job: bk-job refuses them together "
                "(V4ExecuteTargetNotEmptyAndContainerSafely); launch one job for each"
            )

    @property
    def hosts(self) -> bool:
        """Tell whether any host is named (by id, ip, dynamic group or topology node)."""
        return bool(self.host_ids or self.ips or self.dynamic_group_ids or self.topo_nodes)

    def __bool__(self) -> bool:
        return self.hosts or bool(self.containers)


@attrs.frozen
class Account:
    """An execution account, by alias (the name users see) or by id."""

    alias: str | None = None
    id: int | None = attrs.field(default=None, validator=_optional_id)

    def __attrs_post_init__(self) -> None:
        if (self.alias is None) == (self.id is None):
            raise ValueError("an Account needs exactly one of alias or id")
        if self.alias is not None and not (
            isinstance(self.alias, str) and self.alias.strip() and self.alias.isprintable()
        ):
            raise ValueError(f"an Account alias must be a non-blank printable str: {self.alias!r}")


@attrs.frozen
class FileSource:
    """Files to fetch: from ``server`` hosts (``file_type`` 1) or a file source (3)."""

    files: tuple[str, ...] = attrs.field(converter=_files)
    server: Targets | None = None
    account: Account | None = None
    file_type: int = 1
    file_source_id: int | None = attrs.field(default=None, validator=_optional_id)
    file_source_code: str | None = None


def _hide_value(value: str | None) -> str:
    return repr(value) if value is None else "'******'"


@attrs.frozen
class GlobalVar:
    """A plan's global variable, by id or name: a text ``value`` or, for host variables, ``server``.

    ``secret=True`` marks a password variable's value: it never shows in a ``repr``, and the
    client masks it in the errors of the launch that carries it. ``GlobalVar.password(name,
    value)`` says the same.
    """

    name: str | None = None
    id: int | None = attrs.field(default=None, validator=_optional_id)
    value: str | None = attrs.field(default=None)
    server: Targets | None = None
    secret: bool = False

    @value.validator
    def _check_value(self, _: object, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"a GlobalVar value must be a str, not {type(value).__name__}")

    @classmethod
    def password(cls, name: str, value: str) -> GlobalVar:
        """Return the value of the password variable ``name``, marked secret."""
        return cls(name=name, value=value, secret=True)

    def __repr__(self) -> str:
        value = _hide_value(self.value) if self.secret else repr(self.value)
        return (
            f"GlobalVar(name={self.name!r}, id={self.id!r}, value={value}, "
            f"server={self.server!r}, secret={self.secret!r})"
        )

    def __attrs_post_init__(self) -> None:
        if self.name is None and self.id is None:
            raise ValueError("a GlobalVar needs a name or an id")
        if (self.value is None) == (self.server is None):
            raise ValueError("a GlobalVar needs exactly one of value or server")


#: bk-job's ``RollingModeEnum``: 1 pause when a batch fails, 2 ignore failures, 3 a person
#: confirms every batch.
ROLLING_MODES = frozenset({1, 2, 3})
#: ``RollingExecutionModeEnum``: 1 serial (one batch after another), 2 staggered (every batch
#: runs, each started a delay after the one before).
SERIAL, STAGGERED = 1, 2
#: The longest staggered wait bk-job takes (``EsbRollingConfigDTO``, ``@Max(3600000)``), in ms.
MAX_BATCH_WAIT_MS = 3_600_000


def _optional_positive(
    _: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None and (not is_int(value) or value < 1):
        raise ValueError(f"{attribute.name} must be a positive int or None, got {value!r}")


def _optional_wait(_: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (not is_int(value) or not 0 <= value <= MAX_BATCH_WAIT_MS):
        raise ValueError(
            f"{attribute.name} must be an int in 0..{MAX_BATCH_WAIT_MS} (ms), got {value!r}"
        )


@attrs.frozen
class FileSourceRolling:
    """Rolling by source file (bk-job ``rolling_config.file_source``): a batch sends the files of
    at most ``max_hosts_in_batch`` source hosts (``max_execute_object_num_in_batch``) and at most
    ``max_files_per_host`` files of one host (``max_file_num_of_single_execute_object``); ``None``
    sets no limit."""

    max_hosts_in_batch: int | None = attrs.field(default=None, validator=_optional_positive)
    max_files_per_host: int | None = attrs.field(default=None, validator=_optional_positive)


@attrs.frozen
class RollingConfig:
    """Rolling execution (bk-job ``rolling_config``), in one of three shapes:

    * serial rolling by target (the default): ``RollingConfig("10%", mode)``, ``expression``
      such as ``"10%"``, ``"5"`` or ``"1 +2 *2 30%"`` and ``mode`` 1 pause on failure,
      2 ignore failures, 3 pause after every batch;
    * staggered: ``RollingConfig.staggered("5", fixed_ms=60_000, random_max_ms=5_000)``: every
      batch runs, batch *k* starting ``batch_start_wait_fixed_ms`` plus a random
      ``batch_start_wait_random_{min,max}_ms`` after batch *k-1* (``execution_mode`` 2;
      ``mode`` is not sent); at most 200 batches;
    * by source file, for file transfers: ``RollingConfig.by_source_file(max_hosts_in_batch=2)``
      (``type`` 2 with ``file_source``), serial, files of server sources only.

    Checked when built (bk-job's own checks: modes, wait ranges, the random maximum not below
    the minimum, no staggered source-file rolling); the expression and the batch count
    (at most 500 batches, 200 staggered) are checked when a launch is spelled, where the
    targets are known.
    """

    expression: str | None = None
    mode: int = 1
    execution_mode: int = SERIAL
    batch_start_wait_fixed_ms: int | None = attrs.field(default=None, validator=_optional_wait)
    batch_start_wait_random_min_ms: int | None = attrs.field(default=None, validator=_optional_wait)
    batch_start_wait_random_max_ms: int | None = attrs.field(default=None, validator=_optional_wait)
    file_source: FileSourceRolling | None = None

    def __attrs_post_init__(self) -> None:
        if self.mode not in ROLLING_MODES or not is_int(self.mode):
            raise ValueError(f"a rolling mode is 1, 2 or 3, got {self.mode!r}")
        if self.execution_mode not in (SERIAL, STAGGERED) or not is_int(self.execution_mode):
            raise ValueError(
                f"a rolling execution_mode is 1 (serial) or 2 (staggered), "
                f"got {self.execution_mode!r}"
            )
        if self.file_source is not None and not isinstance(self.file_source, FileSourceRolling):
            raise TypeError("file_source must be a FileSourceRolling")
        if self.file_source is not None and self.expression is not None:
            raise ValueError(
                "rolling by expression and by source file together: bk-job takes one or the other"
            )
        waits = self.waits
        if self.execution_mode == STAGGERED:
            if self.file_source is not None:
                raise ValueError("rolling by source file cannot be staggered (bk-job refuses it)")
            if self.mode != 1:
                raise ValueError("staggered rolling has no mode: bk-job ignores it there")
            if None in waits:
                raise ValueError(
                    "staggered rolling needs batch_start_wait_fixed_ms, "
                    "batch_start_wait_random_min_ms and batch_start_wait_random_max_ms"
                )
            if waits[2] < waits[1]:  # type: ignore[operator]
                raise ValueError(
                    "batch_start_wait_random_max_ms must be >= batch_start_wait_random_min_ms"
                )
        elif waits != (None, None, None):
            raise ValueError("batch start waits are for staggered rolling (execution_mode=2)")

    @classmethod
    def staggered(
        cls, expression: str, *, fixed_ms: int, random_min_ms: int = 0, random_max_ms: int = 0
    ) -> RollingConfig:
        """Return staggered rolling: every batch of ``expression`` runs, each started
        ``fixed_ms`` plus a random ``random_min_ms..random_max_ms`` after the one before."""
        return cls(
            expression,
            execution_mode=STAGGERED,
            batch_start_wait_fixed_ms=fixed_ms,
            batch_start_wait_random_min_ms=random_min_ms,
            batch_start_wait_random_max_ms=random_max_ms,
        )

    @classmethod
    def by_source_file(
        cls,
        *,
        max_hosts_in_batch: int | None = None,
        max_files_per_host: int | None = None,
        mode: int = 1,
    ) -> RollingConfig:
        """Return serial rolling by source file (file transfers from servers only)."""
        return cls(mode=mode, file_source=FileSourceRolling(max_hosts_in_batch, max_files_per_host))

    @property
    def waits(self) -> tuple[int | None, int | None, int | None]:
        """Return the fixed, random-minimum and random-maximum batch start waits (ms)."""
        return (
            self.batch_start_wait_fixed_ms,
            self.batch_start_wait_random_min_ms,
            self.batch_start_wait_random_max_ms,
        )

    @property
    def rolling_type(self) -> int:
        """Return bk-job's rolling ``type``: 1 by target, 2 by source file."""
        return 1 if self.file_source is None else 2

    @property
    def max_batches(self) -> int:
        """Return bk-job's batch cap for this shape: 200 staggered, else 500 (whose check
        lets a 501st batch through: ``rolling_batches``)."""
        return MAX_STAGGERED_BATCHES if self.execution_mode == STAGGERED else MAX_ROLLING_BATCHES


#: ``RollingBatchExecuteObjectsResolver.MAX_ALLOWED_ROLLING_BATCH_SIZE`` (1244027). bk-job
#: checks it before making each batch past the first, so 501 batches pass and 502 do not.
MAX_ROLLING_BATCHES = 500
#: ``job.execute.rolling.scatter.max-batch`` (default 200; 1241012 when over it).
MAX_STAGGERED_BATCHES = 200
_EXPRESSION_PART = re.compile(r"(\d+)%|(\d+)|\+(\d+)|\*(\d+)", re.ASCII)
_JAVA_INT_MAX = 2**31 - 1
_JAVA_TRIM = "".join(map(chr, range(33)))


def rolling_batches(expression: str, hosts: int, *, limit: int = MAX_ROLLING_BATCHES) -> list[int]:
    """Return the batch sizes of ``expression`` over ``hosts`` targets as bk-job cuts them
    (``RollingExpr``, ``RollingBatchExecuteObjectsResolver``): parts split on single spaces, the
    last part repeating; ``n%`` takes ceil(hosts * n / 100), ``n`` takes n, ``+n`` the previous
    batch plus n, ``*n`` the previous batch times n (n for the first batch).

    :raises ValueError: a part bk-job cannot parse, or more than ``limit + 1`` batches (bk-job's
        serial check lets one batch past its limit; callers compare against their own cap).
    """
    parts: list[tuple[str, int]] = []
    texts = expression.split(" ")
    while texts and not texts[-1]:  # Java's split drops trailing empty strings
        texts.pop()
    for text in texts or [""]:
        match = _EXPRESSION_PART.fullmatch(text.strip(_JAVA_TRIM))
        if match is None:
            raise ValueError(f"not a rolling expression bk-job parses: {expression!r}")
        kind = "%=+*"[match.lastindex - 1]  # type: ignore[operator]
        value = int(match.group(match.lastindex or 0))
        if not 0 < value <= _JAVA_INT_MAX or (kind == "%" and value > 100):
            raise ValueError(f"not a rolling expression bk-job parses: {expression!r}")
        parts.append((kind, value))
    sizes: list[int] = []
    remaining = hosts
    while remaining > 0:
        if len(sizes) > limit:
            raise ValueError(
                f"rolling expression {expression!r} cuts {hosts} hosts into more than {limit} "
                f"batches; bk-job refuses it (1244027)"
            )
        kind, value = parts[min(len(parts), len(sizes) + 1) - 1]
        previous = sizes[-1] if sizes else None
        if kind == "%":
            size = -(-hosts * value // 100)
        elif kind == "=" or previous is None:
            size = value
        else:
            size = previous + value if kind == "+" else previous * value
        sizes.append(min(size, remaining))
        remaining -= sizes[-1]
    return sizes


#: The longest file name, in UTF-8 bytes (Linux's ``NAME_MAX``, and Windows' 255 characters).
MAX_FILE_NAME = 255


def _config_name(_: object, __: object, name: str) -> None:
    if not isinstance(name, str) or not name.strip():  # (typed, but checked for callers)
        raise ValueError("a ConfigFile needs a non-empty file name")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"a ConfigFile name is a file name, not a path: {name!r}")
    if not name.isprintable() or len(name.encode("utf-8", "surrogatepass")) > MAX_FILE_NAME:
        raise ValueError(
            f"a ConfigFile name must be printable and at most {MAX_FILE_NAME} bytes: {name!r}"
        )


def _config_content(_: object, __: object, content: str | bytes) -> None:
    if not isinstance(content, (str, bytes)):
        raise TypeError(f"ConfigFile content must be str or bytes, not {type(content).__name__}")
    if not content:
        raise ValueError("ConfigFile content is empty (bk-job refuses an empty config file)")


@attrs.frozen(repr=False)
class ConfigFile:
    """A file for ``push_config_file``: its ``name`` in the target directory and its content
    (text, encoded as UTF-8, or bytes; the client base64-encodes it). The content is never
    shown in a ``repr`` or a log line: config files carry passwords."""

    name: str = attrs.field(validator=_config_name)
    content: str | bytes = attrs.field(validator=_config_content)

    @property
    def data(self) -> bytes:
        """Return the content as bytes."""
        return self.content.encode("utf-8") if isinstance(self.content, str) else self.content

    def __repr__(self) -> str:
        return f"ConfigFile(name={self.name!r}, content=<{len(self.data)} bytes>)"
