"""Rule: an operator's writes are atomic, safe twice, and never touch leases or fenced state.

An operator's writes to a cluster's streams: delete a consumer group, replay or drop dead letters.

Each is one atomic round trip and safe to run twice (a dead letter replayed or dropped already
is skipped). They never touch leases, fenced state or the watch set: the workers go on as before.
A replayed event is appended to the watch's stream as a new entry, so every consumer group is
given it again (delivery is at least once: consumers dedupe by ``event_id``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._keys import check_name, check_watch

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._client import Cluster

__all__ = ["delete_group", "drop_dead_letters", "replay_dead_letters"]

_STREAM_ID = "0123456789-"


def _ids(dead_ids: Iterable[str]) -> list[str]:
    if isinstance(dead_ids, str):
        raise TypeError("dead_ids must be an iterable of stream ids, not one str")
    found = []
    for value in dead_ids:
        if not (isinstance(value, str) and value and set(value) <= set(_STREAM_ID)):
            raise ValueError(f"not a stream entry id: {value!r}")
        found.append(value)
    return list(dict.fromkeys(found))


async def delete_group(cluster: Cluster, watch: str, group: str) -> bool:
    """Delete consumer group ``group`` of ``watch``'s stream, with its pending events; return
    whether it existed. A consumer still reading in it makes it again, from the oldest event
    the stream holds."""
    key = cluster.keys.events(check_watch(watch))
    check_name(group, "group")
    async with cluster.guard():
        if not await cluster.redis.exists(key):
            return False
        return bool(await cluster.redis.xgroup_destroy(key, group))


async def replay_dead_letters(cluster: Cluster, watch: str, dead_ids: Iterable[str]) -> int:
    """Put dead letters (their ``DeadLetter.dead_id``) back in ``watch``'s stream, as new entries
    every group is given again, and out of the dead letters; return how many were replayed."""
    check_watch(watch)
    ids = _ids(dead_ids)
    if not ids:
        return 0
    keys = [cluster.keys.dead(watch), cluster.keys.events(watch)]
    return int(await cluster.script("REPLAY", keys, [cluster.stream_maxlen, *ids]))


async def drop_dead_letters(cluster: Cluster, watch: str, dead_ids: Iterable[str]) -> int:
    """Delete dead letters (their ``DeadLetter.dead_id``) of ``watch``; return how many were
    there."""
    check_watch(watch)
    ids = _ids(dead_ids)
    if not ids:
        return 0
    async with cluster.guard():
        return int(await cluster.redis.xdel(cluster.keys.dead(watch), *ids))
