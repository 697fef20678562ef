"""Rule: the simulator's catalog setup only; no HTTP and no engine here.

The simulator's catalog setup: plans, scripts, dangerous-command rules, accounts, containers.

Rule: what a test puts in the simulated bk-job's catalog before it runs, split from
``BkJobSimulator`` (which inherits it) by concern; no HTTP and no engine here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._protocol._v4 import container_filter
from ..config import Scope

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..models.requests import KubeContainerFilter
    from ._plan import PlanVar, StepPlan
    from ._world import World

__all__ = ["CatalogSetup"]


class CatalogSetup:
    """Fill the catalog of the simulated bk-job (``BkJobSimulator`` has these methods)."""

    _world: World

    def add_plan(
        self,
        plan_id: int,
        steps: Sequence[StepPlan],
        *,
        name: str | None = None,
        scope: Scope | None = None,
        variables: Sequence[PlanVar] = (),
        outputs: Mapping[str, str] | None = None,
    ) -> None:
        """Register a job plan for ``execute_job_plan`` (v2 ``execute_job``); any scope if ``None``.

        ``variables`` are its global variables (``PlanVar``); ``outputs`` the values its last
        script step gives string variables when it succeeds, which
        ``get_job_instance_global_var_value`` then reports.
        """
        self._world.add_plan(plan_id, steps, name, scope, variables=variables, outputs=outputs)

    def add_script(
        self,
        scope: Scope | int | None,
        name: str,
        content: str | Sequence[tuple[str, str]],
        *,
        language: int = 1,
        creator: str = "admin",
        online: str | None = None,
    ) -> tuple[str, tuple[int, ...]]:
        """Add a script to a scope's library (``scope=None``: the public one).

        ``content`` is the text of its one version ``"1.0"``, or ``(version, text)`` pairs;
        ``online`` names the online version (the last by default; the others are offline).
        Return the script's id and its versions' ids.
        """
        versions = [("1.0", content)] if isinstance(content, str) else list(content)
        if not versions:
            raise ValueError("a script needs at least one version")
        scope = Scope.biz(scope) if isinstance(scope, int) else scope
        script = self._world.store.add_script(
            scope,
            name,
            versions,
            language=language,
            creator=creator,
            now_ms=self._world.now_ms(),
            online=online,
        )
        return script.script_id, tuple(v.id for v in script.versions)

    def add_dangerous_rule(
        self,
        expression: str,
        *,
        languages: Sequence[int] = (1,),
        action: int = 2,
        description: str = "",
        enabled: bool = True,
    ) -> int:
        """Add a dangerous-command rule (a regular expression checked per line of scripts in
        ``languages``); ``action`` 1 scans (``check_script`` reports it), 2 also refuses a
        launch of a matching script. Return its id."""
        mask = sum(1 << (n - 1) for n in set(languages) if 0 < n <= 8)
        world = self._world
        rule = world.store.add_rule(expression, mask, description, action, "admin", world.now_ms())
        rule.status = 1 if enabled else 0
        return rule.id

    def add_account(
        self,
        scope: Scope | int,
        alias: str,
        *,
        account: str | None = None,
        category: int = 1,
        type: int = 1,
        os: str = "Linux",
    ) -> int:
        """Add an execution account to a scope (besides ``root``, ``system`` and ``mysql``,
        which every scope has); ``category`` 1 system or 2 DB. Return its id."""
        scope = Scope.biz(scope) if isinstance(scope, int) else scope
        store, now = self._world.store, self._world.now_ms()
        store.accounts_of(scope, now)
        return store.add_account(scope, alias, account or alias, category, type, os, now).id

    def containers(self, kube_filter: KubeContainerFilter) -> list[int]:
        """Return the ids of the Kubernetes containers ``kube_filter`` selects: those a launch
        on ``Targets(containers=[kube_filter])`` runs in (two per container name it names, or
        two). Give them to ``HostPlan(bk_host_id=...)`` to run a job in them as planned: its
        rows are containers on the gateway v4; v2 and v3 cannot read them, as in bk-job (their
        per-host status fails with 1240002, their logs find none)."""
        return [
            c.bk_host_id for c in self._world.inventory.containers(container_filter(kube_filter))
        ]
