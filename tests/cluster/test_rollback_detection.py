"""Pure: how a worker tells a state Redis rolled back from one another worker wrote since."""

from __future__ import annotations

import pytest

from bkjob_async import Scope
from bkjob_async.cluster._holdings import Holdings, writes_back
from bkjob_async.cluster._keys import version_field

JOB = (Scope.biz(2), 7)


@pytest.mark.parametrize(
    ("stored", "replaced", "back"),
    [
        ("a1.3", "a1.9", 6),  # its own older write: 6 of its writes lost
        ("a1.9", "a1.9", 0),
        ("a1.12", "a1.9", 0),  # a later one of its own: not behind
        ("b2.3", "a1.9", 0),  # another writer's: written since, not rolled back
        ("", "a1.9", 9),  # nothing stored: before its first write
        ("a1.3", "", 0),  # nothing written here
        ("a1.x", "a1.9", 0),
    ],
)
def test_writes_back(stored: str, replaced: str, back: int) -> None:
    assert writes_back(stored, replaced) == back


def test_a_partition_read_older_than_written_here_is_noted_once() -> None:
    held = Holdings()
    held.wrote(3, JOB, "w", "n.8", end=False)
    read = {JOB: frozenset({"w"})}
    held.take(3, 1, read, {version_field(JOB, "w"): "n.5"})
    assert held.rollbacks == {3: (1, 3)}
    held.rollbacks.clear()
    held.take(3, 2, read, {version_field(JOB, "w"): "other.1"})  # another worker wrote since
    assert held.rollbacks == {}


def test_a_job_that_ended_or_left_is_not_taken_for_a_rollback() -> None:
    held = Holdings()
    held.wrote(3, JOB, "w", "n.8", end=False)
    held.wrote(3, JOB, "w", "n.9", end=True)  # its end: it left the watch
    held.take(3, 1, {JOB: frozenset({"w"})}, {})  # submitted again since: nothing stored
    assert held.rollbacks == {}
    held.wrote(3, JOB, "w", "n.10", end=False)
    held.take(3, 2, {}, {})  # cancelled: gone from the partition, and forgotten
    assert held.applied[3] == {}
