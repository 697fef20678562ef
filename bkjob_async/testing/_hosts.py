"""Simulated hosts: deterministic identities from a seed, shared between jobs; no state here.

Host ``n`` of the inventory has ``bk_host_id = 1000 + n`` and the IPv4 address ``10.a.b.c``
spelling ``n`` (offset by the seed), so ids and addresses map both ways without a table.
Kubernetes containers (the gateway v4's execute objects) are ``SimHost`` values too, so the
engine runs them as it runs hosts: their ``bk_host_id`` is the container's CMDB id (from
``CONTAINER_ID_BASE``, apart from every host's), their address their node's, and
``Inventory.container_of`` tells them apart.
"""

from __future__ import annotations

import ipaddress
import json
import zlib
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CONTAINER_ID_BASE",
    "HOST_ID_BASE",
    "Inventory",
    "SimContainer",
    "SimHost",
    "cloud_name",
]

HOST_ID_BASE = 1000
#: The first container id: above every host id the inventory hands out.
CONTAINER_ID_BASE = 100_000_000
#: Containers a filter matches (two per container name, or two).
_PER_NAME = 2


class SimContainer(NamedTuple):
    """A container as bk-job's v4 names it (``OpenApiContainerDTO``)."""

    id: int
    container_id: str
    name: str
    node_host_id: int


_SPACE = 1 << 24


class SimHost:
    """One host as bk-job's CMDB view knows it."""

    __slots__ = ("agent_id", "bk_cloud_id", "bk_host_id", "ip", "ipv6", "prefixes")

    def __init__(
        self, bk_host_id: int, ip: str, bk_cloud_id: int = 0, ipv6: str | None = None
    ) -> None:
        self.bk_host_id = bk_host_id
        self.ip = ip
        self.bk_cloud_id = bk_cloud_id
        self.ipv6 = ipv6
        self.agent_id = f"02000000005254{bk_host_id & (1 << 88) - 1:022x}"
        #: Pre-encoded JSON row openings, filled by ``_fastwire`` on first use.
        self.prefixes: dict[object, str] = {}

    @property
    def cloud_ip(self) -> str:
        """Return the v2 ``"cloud:ip"`` spelling."""
        return f"{self.bk_cloud_id}:{self.ip}"

    def __repr__(self) -> str:
        return f"SimHost({self.bk_host_id}, {self.cloud_ip!r})"


def cloud_name(bk_cloud_id: int) -> str:
    """Return the CMDB name of a cloud area (0 is the default area)."""
    return "Default Area" if bk_cloud_id == 0 else f"Cloud Area {bk_cloud_id}"


class Inventory:
    """Hand out deterministic, shared ``SimHost`` objects by index, id or address."""

    def __init__(self, seed: int) -> None:
        self._offset = zlib.crc32(f"hosts:{seed}".encode()) % (_SPACE // 2)
        self._cache: dict[int, SimHost] = {}
        self._containers: dict[int, SimContainer] = {}

    def containers(self, kube_filter: Mapping[str, Any]) -> list[SimHost]:
        """Return the containers a ``kube_container_filter`` matches: the same ones for the
        same filter, two per container name it names (or two), each on a node of its own."""
        text = json.dumps(kube_filter, sort_keys=True, default=str)
        n = zlib.crc32(text.encode()) % (1 << 20)
        prop = kube_filter.get("kube_container_prop_filter")
        names = list((prop or {}).get("container_name_list") or ()) or ["main"]
        found = []
        for i in range(len(names) * _PER_NAME):
            container_id = CONTAINER_ID_BASE + n * 64 + i
            node = self.host(n * 64 + i)
            self._containers[container_id] = SimContainer(
                container_id,
                f"{zlib.crc32(f'{text}:{i}'.encode()):08x}{container_id:08x}",
                str(names[i // _PER_NAME]),
                node.bk_host_id,
            )
            found.append(SimHost(container_id, node.ip, node.bk_cloud_id))
        return found

    def container_of(self, bk_host_id: int) -> SimContainer | None:
        """Return the container whose engine id this is, or ``None`` for a host."""
        return self._containers.get(bk_host_id)

    def host(self, index: int) -> SimHost:
        """Return inventory host ``index`` (any non-negative integer)."""
        n = (self._offset + index) % _SPACE
        return self._by_number(n)

    def by_id(self, bk_host_id: int) -> SimHost:
        """Return the host with this ``bk_host_id`` (or the container with this id)."""
        container = self._containers.get(bk_host_id)
        if container is not None:
            node = self.by_id(container.node_host_id)
            return SimHost(bk_host_id, node.ip, node.bk_cloud_id)
        n = bk_host_id - HOST_ID_BASE
        if 0 <= n < _SPACE:
            return self._by_number(n)
        return SimHost(bk_host_id, _ip_of(zlib.crc32(str(bk_host_id).encode()) % _SPACE))

    def by_ip(self, ip: str, bk_cloud_id: int = 0) -> SimHost:
        """Return the host with this address (IPv4, or IPv6 for an IPv6-only host)."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            address = None
        if address is not None and address.version == 6:
            host_id = HOST_ID_BASE + _SPACE + zlib.crc32(ip.encode()) % _SPACE
            return SimHost(host_id, "", bk_cloud_id, ipv6=str(address))
        if address is not None and ip.startswith("10.") and bk_cloud_id == 0:
            return self._by_number(int(address) & (_SPACE - 1))
        host_id = HOST_ID_BASE + _SPACE + zlib.crc32(f"{bk_cloud_id}:{ip}".encode()) % _SPACE
        return SimHost(host_id, ip, bk_cloud_id)

    def _by_number(self, n: int) -> SimHost:
        host = self._cache.get(n)
        if host is None:
            host = self._cache[n] = SimHost(HOST_ID_BASE + n, _ip_of(n))
        return host


def _ip_of(n: int) -> str:
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
