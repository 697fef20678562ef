"""Jobs on hosts or on Kubernetes containers, for suites that run on both (``OBJECTS``).

A suite parametrized with ``@pytest.mark.parametrize("objects", OBJECTS)`` plans its jobs with
``steps(sim, objects, ...)`` and makes its clients with ``flavor(objects)``: the same test,
once on v3's hosts, once on the gateway v4's containers (``ContainerTransition``).
"""

from __future__ import annotations

from typing import Any

from bkjob_async import KubeContainerFilter
from bkjob_async.testing import BkJobSimulator, HostPlan, StepPlan

#: What a job runs on: hosts (the gateway v3), or containers (the gateway v4).
OBJECTS = ("hosts", "containers")
_FLAVORS = {"hosts": "apigw-v3", "containers": "apigw-v4"}


def flavor(objects: str) -> str:
    """Return the API flavor whose jobs run on ``objects``."""
    return _FLAVORS[objects]


def steps(sim: BkJobSimulator, objects: str, *sizes: int, **plan: Any) -> list[StepPlan]:
    """Return steps of ``sizes`` hosts (the simulator's own picks), or of as many containers
    (the first of those a filter selects: every step's the same ones), each ``StepPlan(**plan)``."""
    if objects == "hosts":
        return [StepPlan(hosts=n, **plan) for n in sizes]
    names = [f"app-{i}" for i in range(max(sizes))]  # (two containers a name)
    pods = KubeContainerFilter(cluster_uids=["BCS-K8S-00001"], container_names=names)
    ids = sim.containers(pods)
    return [StepPlan(hosts=[HostPlan(bk_host_id=c) for c in ids[:n]], **plan) for n in sizes]
