"""Rule: a launch's ``rolling_config`` read as bk-job reads it, into a step plan's batches; pure.

bk-job's checks (``EsbRollingConfigDTO``, ``RollingConfigServiceImpl``,
``RollingBatchExecuteObjectsResolver``, ``FileSourceBatchCalculatorImpl``): a config that fails
them raises ``RollingRefused`` with bk-job's code and message arguments; one that passes becomes
``StepPlan`` keyword arguments (the batch sizes, the staggered waits, the source-file batches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..models.requests import MAX_BATCH_WAIT_MS, MAX_STAGGERED_BATCHES, rolling_batches
from ._plan import RollingMode

__all__ = ["RollingRefused", "file_source_batches", "rolling_plan", "source_groups"]

#: ``RollingBatchExecuteObjectsResolver``: more batches than this are refused (1244027).
_MOST_BATCHES = 501
_BAD_REQUEST, _ILLEGAL_REASON, _TOO_MANY, _SERVER_FILES_ONLY = 1240003, 1241012, 1244027, 1244035


class RollingRefused(Exception):
    """bk-job refuses the config: ``code`` and its message arguments."""

    def __init__(self, code: int, *args: object) -> None:
        super().__init__(code, *args)
        self.code = code


def _int(config: Mapping[str, Any], key: str, default: int | None) -> int | None:
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise RollingRefused(_BAD_REQUEST)
    return value


def file_source_batches(
    groups: Sequence[tuple[int, int]], hosts: int | None, files: int | None
) -> int:
    """Return how many batches ``FileSourceBatchCalculatorImpl`` makes of source groups
    ``(hosts, files)`` under the two limits (``None``: no limit)."""
    most_hosts, most_files = hosts or 1 << 31, files or 1 << 31
    batches, i = 0, 0
    while i < len(groups):
        group_hosts, group_files = groups[i]
        if group_files > most_files or group_hosts > most_hosts:
            batches += -(-group_hosts // most_hosts) * -(-group_files // most_files)
            i += 1
            continue
        end, total_hosts, total_files = i + 1, group_hosts, group_files
        while end < len(groups):  # greedy: the next groups join while both sums fit
            total_hosts, total_files = total_hosts + groups[end][0], total_files + groups[end][1]
            if total_hosts > most_hosts or total_files > most_files:
                break
            end += 1
        batches, i = batches + 1, end
    return batches


def rolling_plan(
    config: object, hosts: int, groups: Sequence[tuple[int, int]] | None
) -> dict[str, Any]:
    """Return the ``StepPlan`` arguments of ``config`` over ``hosts`` targets; ``groups`` are a
    transfer's source groups ``(hosts, files)`` (``None`` for a script)."""
    if not isinstance(config, Mapping) or not config:
        return {}
    kind = _int(config, "type", 1)
    mode = _int(config, "mode", 1)
    staggered = _int(config, "execution_mode", 1)
    if kind not in (1, 2) or mode not in (1, 2, 3) or staggered not in (1, 2):
        raise RollingRefused(_BAD_REQUEST)
    rolling_mode = RollingMode(mode)
    if kind == 2:
        source = config.get("file_source")
        if not isinstance(source, Mapping) or groups is None:
            raise RollingRefused(_BAD_REQUEST)
        if staggered == 2:
            raise RollingRefused(_ILLEGAL_REASON, "File source rolling does not support parallel")
        most_hosts = _int(source, "max_execute_object_num_in_batch", None)
        most_files = _int(source, "max_file_num_of_single_execute_object", None)
        if any(limit is not None and limit < 1 for limit in (most_hosts, most_files)):
            raise RollingRefused(_BAD_REQUEST)
        repeats = file_source_batches(groups, most_hosts, most_files)
        return {"rolling_repeats": max(1, repeats), "rolling_mode": rolling_mode}
    expression = config.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise RollingRefused(_BAD_REQUEST)
    try:
        sizes = rolling_batches(expression, hosts, limit=1 << 31)
    except ValueError:
        raise RollingRefused(_BAD_REQUEST) from None
    if len(sizes) > _MOST_BATCHES:
        raise RollingRefused(_TOO_MANY, _MOST_BATCHES - 1)
    plan: dict[str, Any] = {"rolling_sizes": tuple(sizes), "rolling_mode": rolling_mode}
    if staggered == 2:
        waits = [
            _int(config, f"batch_start_wait_{key}_ms", None)
            for key in ("fixed", "random_min", "random_max")
        ]
        if any(w is None or not 0 <= w <= MAX_BATCH_WAIT_MS for w in waits):
            raise RollingRefused(_BAD_REQUEST)
        fixed, low, high = (w or 0 for w in waits)
        if high < low:
            raise RollingRefused(_ILLEGAL_REASON, "Batch start random wait max < min")
        if len(sizes) > MAX_STAGGERED_BATCHES:
            raise RollingRefused(_ILLEGAL_REASON, f"batch count exceeds {MAX_STAGGERED_BATCHES}")
        plan["stagger_ms"] = (fixed, low, high)
    return plan


def source_groups(sources: object, files_key: str, server_key: str) -> list[tuple[int, int]]:
    """Return a transfer's source groups ``(hosts named, files)``; 1244035 unless all are
    server files. Hosts named by id or ip count; a group naming none counts one."""
    groups = []
    for item in sources if isinstance(sources, list) else ():
        if not isinstance(item, Mapping):
            continue
        if item.get("file_type", 1) not in (1, "1", None):
            raise RollingRefused(_SERVER_FILES_ONLY)
        server = item.get(server_key)
        named = 0
        if isinstance(server, Mapping):
            for key in ("host_id_list", "ip_list"):
                value = server.get(key)
                named += len(value) if isinstance(value, list) else 0
        files = item.get(files_key)
        groups.append((max(1, named), len(files) if isinstance(files, list) else 1))
    return groups
