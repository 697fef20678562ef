"""A container's transition, the event of the gateway v4's container execute objects; pure values.

A job bk-job runs in Kubernetes containers (``flavor="apigw-v4"``, ``Targets(containers=...)``)
reports each container's status as a host's (``HostStatus``). The poller tracks a container as
it tracks a host, under its key ``("container", id)`` (``Container.key``, which never equals a
host's), and hands each change out as a ``ContainerTransition``: an event of its own, not a
``HostTransition``, so that code written for hosts (``event.host.bk_host_id``, ``events=
(HostTransition,)``) never meets a container, and code for containers reads a ``Container``
(``docs/explanation/execute-objects.md`` says why). Its ``event_id`` is made as a host's, with
``c`` and the container's id where a host's has ``h`` and its key:
``10001/20001/0/c100123456/9``.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any, TypeGuard

import attrs

from ..models import Container, ContainerResult, HostStatus

if TYPE_CHECKING:
    from ..models.instances import ContainerKey

__all__ = ["ContainerTransition", "container_event_id", "is_container"]


def is_container(key: object) -> TypeGuard[ContainerKey]:
    """Tell whether a tracked key is a container's (``Container.key``), not a host's."""
    return type(key) is tuple and key[0] == "container"


def container_event_id(
    job_instance_id: int,
    step_instance_id: int,
    execute_count: int,
    container_id: int,
    status: int,
    visit: int,
) -> str:
    """Return the ``event_id`` of a container's transition from its parts."""
    shown = "" if visit == 1 else f"#{visit}"
    return f"{job_instance_id}/{step_instance_id}/{execute_count}/c{container_id}/{status}{shown}"


@attrs.frozen
class ContainerTransition:
    """A container's status changed; ``previous`` is ``None`` the first time the poller sees it.

    As a host's: ``previous`` is the container's last status in that step in any round,
    ``visit`` which arrival at ``current`` in this round it is (``events`` says how ids are
    made of it), and the same transition has the same ``event_id`` however often and by
    whichever process it is derived.
    """

    job_instance_id: int
    observed_at: _dt.datetime
    step_instance_id: int
    execute_count: int
    container: Container
    previous: HostStatus | None
    current: HostStatus
    result: ContainerResult
    #: Which arrival of the container at ``current`` in this round this is: 1, 2, ...
    visit: int = attrs.field(default=1, kw_only=True)

    @property
    def container_key(self) -> ContainerKey:
        """The container's identity (``Container.key``)."""
        return self.container.key

    @property
    def event_id(self) -> str:
        """Stable identity: the same on every delivery of the same transition."""
        return container_event_id(
            self.job_instance_id,
            self.step_instance_id,
            self.execute_count,
            self.container.id,
            int(self.current),
            self.visit,
        )

    @classmethod
    def of_result(
        cls,
        job_instance_id: int,
        observed_at: _dt.datetime,
        step_instance_id: int,
        execute_count: int,
        code: int,
        result: Any,
        previous: HostStatus | None,
        visit: int,
    ) -> ContainerTransition:
        """Return the transition to status ``code`` that a container's row, structured as
        ``result``, reports."""
        if not isinstance(result, ContainerResult):
            raise TypeError(f"a container's row read as {type(result).__name__}")
        return cls(
            job_instance_id,
            observed_at,
            step_instance_id,
            execute_count,
            result.container,
            previous,
            HostStatus.of(code),
            result,
            visit=visit,
        )
