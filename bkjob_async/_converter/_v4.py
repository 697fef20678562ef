"""The gateway v4's execute object rows of a job status, read once for the converter and the poller.

v4 lists a step's targets as ``step_execute_object_result_list``: each row
``{execute_object: {type, resource_id, host | container}, status, tag, exit_code, ...}``
(``OpenApiExecuteObjectDTO``; type 1 a host, 2 a Kubernetes container). A host row reads as the
v3 host row it carries (``host_row``: the host's fields beside the result's), so a host on v4
is the ``HostResult`` it is on v3; a container row is a ``ContainerResult`` keyed
``("container", id)`` (``Container.key``). A row of another type, or without its object, is
left out, here as in the poller's fast path (``_observe``), which reads keys with
``object_key``. Pure; every reader raises only what the converter turns into
``ResponseFormatError``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..models import Container, ContainerResult, HostStatus, StepInstance
from ._readers import _optional, _str, read_code, read_int, read_rows

if TYPE_CHECKING:
    import cattrs

    from ..models.instances import ContainerKey

__all__ = [
    "CONTAINER",
    "HOST",
    "OBJECT_ROWS",
    "container_result_hook",
    "host_row",
    "objects_step",
    "read_container",
]

#: ``ExecuteObjectTypeEnum``: a host, a Kubernetes container.
HOST, CONTAINER = 1, 2
#: Where a v4 step lists its execute objects (v3: ``step_ip_result_list``).
OBJECT_ROWS = "step_execute_object_result_list"
_RESULT_KEYS = ("status", "tag", "exit_code", "start_time", "end_time", "total_time")


def read_container(d: Mapping[str, Any]) -> Container:
    """Read a container (``OpenApiContainerDTO``)."""
    get = d.get
    runtime, name, node = get("container_id"), get("name"), get("node_host_id")
    return Container(
        read_int(d["id"]),
        _optional(runtime, _str),
        _optional(name, _str),
        None if node is None else read_int(node),
    )


def container_key(target: Mapping[str, Any]) -> ContainerKey:
    """Return the key of a container execute object (``Container.key``)."""
    return ("container", read_int(target["container"]["id"]))


def host_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return a host execute object's row as v3 writes it: the host's fields and the result's."""
    return {**row["execute_object"]["host"], **{k: row.get(k) for k in _RESULT_KEYS}}


def kind_of(target: Mapping[str, Any]) -> int | None:
    """Return ``HOST`` or ``CONTAINER`` for an execute object carrying its object, else ``None``."""
    kind = target["type"]
    if type(kind) is not int:
        kind = read_code(kind)
    if kind == HOST:
        return HOST if isinstance(target.get("host"), Mapping) else None
    if kind == CONTAINER:
        return CONTAINER if isinstance(target.get("container"), Mapping) else None
    return None


def container_result_hook(c: cattrs.Converter) -> Callable[[Any, object], ContainerResult]:
    """Build a container's ``ContainerResult`` from its v4 row, times as ``c`` reads them."""
    time = c.get_structure_hook(_dt.datetime)
    span = c.get_structure_hook(_dt.timedelta)

    def structure(row: Mapping[str, Any], _: object) -> ContainerResult:
        get = row.get
        tag, exit_code = get("tag"), get("exit_code")
        start, end, total = get("start_time"), get("end_time"), get("total_time")
        return ContainerResult(
            read_container(row["execute_object"]["container"]),
            HostStatus.of(read_code(row["status"])),
            None if tag is None else _str(tag, None),
            None if exit_code is None else read_int(exit_code),
            None if start is None else time(start, None),
            None if end is None else time(end, None),
            None if total is None else span(total, None),
        )

    c.register_structure_hook(ContainerResult, structure)
    return structure


def objects_step(
    c: cattrs.Converter, step_v3: Callable[[Any, object], StepInstance]
) -> Callable[[Any, object], StepInstance]:
    """Return a step hook reading v3's host rows or v4's execute objects (``OBJECT_ROWS``):
    hosts in ``hosts``, containers in ``containers`` (both ``()`` when a list came empty, both
    ``None`` when none came). Two rows of one container: the last wins, as for hosts."""
    result = container_result_hook(c)

    def step(d: Mapping[str, Any], _: object) -> StepInstance:
        rows = d.get(OBJECT_ROWS)
        if rows is None or d.get("step_ip_result_list") is not None:
            return step_v3(d, StepInstance)
        hosts: list[dict[str, Any]] = []
        containers: dict[ContainerKey, ContainerResult] = {}
        for row in read_rows(rows):
            target = row["execute_object"]
            kind = kind_of(target)
            if kind == HOST:
                hosts.append(host_row(row))
            elif kind == CONTAINER:
                found = result(row, ContainerResult)
                containers[found.container.key] = found
        read = step_v3({**d, "step_ip_result_list": hosts}, StepInstance)
        return attrs.evolve(read, containers=tuple(containers.values()))

    return step
