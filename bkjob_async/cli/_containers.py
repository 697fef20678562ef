"""Rule: a container target is checked whole before any request; a refusal names the flags.

Kubernetes containers on the command line: ``launch script``'s container targets, and the
containers of a job for ``status`` and ``logs`` (bk-job's gateway v4 only).

Rule: a container target is checked whole before any request (a cluster named, no host beside
it, clusters alone only with ``--whole-cluster``, ``--flavor apigw-v4``), and every refusal
names the flags to change. One command line makes one filter (``KubeContainerFilter``): a job
over several filters is the library's (``Targets(containers=[...])``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import errors
from ..config import ApiFlavor
from ..models.requests import WORKLOAD_KINDS, KubeContainerFilter, Targets
from ._connect import explain
from ._runtime import CliError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from ..client import BkJobClient
    from ..models import ContainerResult, ExecuteObjectLog, StepInstance
    from ._connect import Target

__all__ = [
    "container_entries",
    "container_logs",
    "container_targets",
    "parse_container",
    "pick_containers",
]

#: The flags of a container target, as ``args`` attribute names.
CONTAINER_FLAGS = (
    "cluster",
    "namespace",
    "workload",
    "pod",
    "label_selector",
    "container",
    "whole_cluster",
)
_NARROWING = ("--namespace", "--workload", "--pod", "--label-selector", "--container")


def _given(args: argparse.Namespace) -> list[str]:
    """Return the container flags given, as typed."""
    return ["--" + name.replace("_", "-") for name in CONTAINER_FLAGS if getattr(args, name, None)]


def _workload(values: Sequence[str]) -> tuple[str | None, list[str]]:
    kinds, names = set(), []
    for text in values:
        kind, sep, name = text.partition("/")
        if not sep or not kind or not name:
            raise CliError(f"--workload {text!r}: expected KIND/NAME, e.g. deployment/api")
        match = {k.lower(): k for k in WORKLOAD_KINDS}.get(kind.lower())
        if match is None:
            known = ", ".join(sorted(WORKLOAD_KINDS))
            raise CliError(f"--workload {text!r}: unknown kind {kind!r}; expected one of {known}")
        kinds.add(match)
        names.append(name)
    if len(kinds) > 1:
        raise CliError(
            f"--workload: one kind for all workloads of a filter, got {', '.join(sorted(kinds))}"
        )
    return (kinds.pop() if kinds else None), names


def container_targets(args: argparse.Namespace, flavor: ApiFlavor) -> Targets | None:
    """Return the container target of ``launch script``, or ``None`` when no flag names one.

    Refused with a ``CliError`` before any request: a narrowing flag without ``--cluster``,
    hosts beside containers, clusters alone without ``--whole-cluster`` (or with narrowing
    beside it), and a flavor other than the gateway v4.
    """
    given = _given(args)
    if not given:
        return None
    if not args.cluster:
        raise CliError(f"{' '.join(given)} name containers: give their --cluster UID too")
    if args.host_id or args.host:
        raise CliError(
            "hosts and containers cannot run in one job (bk-job refuses them together): "
            "give --host/--host-id or --cluster and its filters, not both"
        )
    narrowed = [flag for flag in given if flag in _NARROWING]
    if args.whole_cluster and narrowed:
        raise CliError(
            f"--whole-cluster runs in every container of the clusters and bk-job ignores "
            f"{' '.join(narrowed)} beside it: give one or the other"
        )
    if not args.whole_cluster and not narrowed:
        raise CliError(
            "--cluster alone runs in every container of the cluster: say so with "
            "--whole-cluster, or narrow it (" + ", ".join(_NARROWING) + ")"
        )
    if flavor is not ApiFlavor.APIGW_V4:
        raise CliError(
            f"containers run only on bk-job's gateway v4, not {flavor.value}: "
            "add --flavor apigw-v4 (or BKJOB_FLAVOR=apigw-v4) with the gateway URL"
        )
    kind, workloads = _workload(args.workload or ())
    try:
        found = KubeContainerFilter(
            args.cluster,
            namespaces=args.namespace or (),
            workload_kind=kind,
            workload_names=workloads,
            pod_names=args.pod or (),
            label_selector_expr=args.label_selector,
            container_names=args.container or (),
            whole_cluster=args.whole_cluster,
        )
    except (TypeError, ValueError) as exc:  # (an empty name, say)
        raise CliError(f"container target: {exc}") from None
    return Targets(containers=[found])


def parse_container(text: str) -> int | str:
    """Return a ``logs --container`` as a container id (digits) or a container name."""
    return int(text) if text.isdigit() else text


def pick_containers(
    step: StepInstance, *, failed: bool, wanted: Sequence[int | str]
) -> list[ContainerResult]:
    """Return the step's containers: all, the failed ones, or those named by id or name."""
    rows = list(step.containers or ())
    if failed:
        rows = [r for r in rows if r.status.is_finished and not r.status.is_success]
    if wanted:
        rows = [r for r in rows if r.container.id in wanted or r.container.name in wanted]
    return rows


async def container_logs(
    client: BkJobClient, target: Target, job_id: int, step_id: int, rows: list[ContainerResult]
) -> tuple[ExecuteObjectLog, ...]:
    """Read the logs of ``rows`` (50 a request, the gateway v4's limit)."""
    try:
        return await client.batch_get_job_instance_execute_object_log(
            target.scope, job_id, step_id, container_ids=[r.container.id for r in rows]
        )
    except errors.BkJobError as exc:
        api = "batch_get_job_instance_execute_object_log"
        raise CliError(explain(exc, target, api=api)) from None


def container_entries(
    rows: list[ContainerResult], logs: tuple[ExecuteObjectLog, ...]
) -> list[tuple[str, ContainerResult | None, ExecuteObjectLog]]:
    """Pair each log with its container's result, under the container's name for a heading."""
    results = {r.container.id: r for r in rows}
    entries = []
    for log in logs:
        found = log.execute_object.container
        result = None if found is None else results.get(found.id)
        entries.append((str(result.container if result else log.execute_object), result, log))
    return entries
