"""A host transition from the tracker structures its host row only when ``host``/``result`` is read."""

from __future__ import annotations

import datetime as dt
import pickle

import attrs
import pytest

from bkjob_async._converter import Generation
from bkjob_async._observe import observe_job
from bkjob_async.cli._format import to_json
from bkjob_async.models import Host, HostResult, HostStatus
from bkjob_async.polling._subscription import _Mailbox
from bkjob_async.polling._tracker import EMPTY, observe
from bkjob_async.polling.events import HostTransition

from ..scripted import job_body

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def transitions(structured: list[object]) -> list[HostTransition]:
    """The host transitions of a first sight of one step with hosts 100 and 101."""

    def host_result(key, code, row):
        structured.append(key)
        return HostResult(Host(bk_host_id=key, ip=f"10.0.0.{key - 99}"), HostStatus(code), tag="t")

    _, events = observe(
        EMPTY,
        1,
        observe_job(job_body(1, 2, [(10, 2, 0, [5, 9])]), Generation.V3),
        lambda: NOW,
        host_result,
    )
    hosts = [e for e in events if isinstance(e, HostTransition)]
    assert len(hosts) == 2
    return hosts


def eager(event: HostTransition, ip: str) -> HostTransition:
    host = Host(bk_host_id=event.host_key, ip=ip)  # type: ignore[arg-type]
    return HostTransition(
        1,
        NOW,
        10,
        0,
        host,
        None,
        event.current,
        HostResult(host, event.current, tag="t"),
    )


def test_nothing_is_structured_until_host_or_result_is_read() -> None:
    structured: list[object] = []
    first, second = transitions(structured)
    # What a consumer of statuses reads costs no structuring.
    assert (first.host_key, first.current, first.previous) == (100, HostStatus.WAITING, None)
    assert first.event_id == "1/10/0/h100/5"
    assert second.current == HostStatus.SUCCESS
    assert structured == []
    # The first read of either builds both, once.
    assert first.result.tag == "t"
    assert first.host == Host(bk_host_id=100, ip="10.0.0.1")
    assert first.result.host is first.host
    assert structured == [100]
    assert second.host.ip == "10.0.0.2"
    assert structured == [100, 101]
    assert second.event_id == "1/10/0/h101/9"


def test_a_lazy_event_is_the_same_value_as_one_built_at_once() -> None:
    structured: list[object] = []
    first, _ = transitions(structured)
    built = eager(first, "10.0.0.1")
    assert first == built
    assert built == first
    assert hash(first) == hash(built)
    assert repr(first) == repr(built)
    assert first.event_id == built.event_id
    other = eager(first, "10.9.9.9")
    assert first != other  # the result is compared: a different row is a different event


@pytest.mark.parametrize("read_first", [False, True])
def test_pickle_evolve_and_json_see_the_structured_host(read_first: bool) -> None:
    first, second = transitions([])
    if read_first:
        first.host  # noqa: B018 (built before, or by what comes next)
    back = pickle.loads(pickle.dumps(first))
    assert back == first
    assert back.host.ip == "10.0.0.1"
    moved = attrs.evolve(second, previous=HostStatus.WAITING)
    assert (moved.previous, moved.host.ip, moved.result.tag) == (
        HostStatus.WAITING,
        "10.0.0.2",
        "t",
    )
    data = to_json(first)
    assert data["host"]["ip"] == "10.0.0.1"
    assert data["result"]["tag"] == "t"
    assert not any(name.startswith("_") for name in data)


def test_a_coalescing_mailbox_keys_hosts_without_structuring_them() -> None:
    structured: list[object] = []
    first, second = transitions(structured)
    box = _Mailbox(limit=0)  # coalesces at once
    box.put(first)
    box.put(second)
    assert len(box) == 2
    assert structured == []


def test_unknown_attributes_still_raise() -> None:
    first, _ = transitions([])
    with pytest.raises(AttributeError, match="no attribute 'hots'"):
        first.hots  # type: ignore[attr-defined]  # noqa: B018
    built = eager(first, "10.0.0.1")
    with pytest.raises(AttributeError):
        built.hots  # type: ignore[attr-defined]  # noqa: B018


def test_a_build_finished_by_another_thread_meanwhile_is_read_not_refused() -> None:
    # Two threads read ``host`` at once: both miss the empty slot; the first builds, the
    # second then finds the row gone and must read what the first built.
    first, _ = transitions([])
    first.result  # noqa: B018 (the first thread's build)
    assert type(first).__getattr__(first, "host") is first.host  # the second thread's call
