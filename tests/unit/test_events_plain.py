"""A host transition is a plain frozen value: built whole by the tracker, as by hand."""

from __future__ import annotations

import datetime as dt
import pickle

import attrs
import pytest

from bkjob_async._converter import Generation
from bkjob_async._observe import observe_job
from bkjob_async.cli._format import to_json
from bkjob_async.models import Container, ContainerResult, Host, HostResult, HostStatus
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


def test_a_tracked_event_is_built_whole_as_one_built_by_hand() -> None:
    structured: list[object] = []
    first, second = transitions(structured)
    # Structured as the tracker makes them, once each: nothing is left to fill on read.
    assert structured == [100, 101]
    assert (first.host_key, first.current, first.previous) == (100, HostStatus.WAITING, None)
    assert first.event_id == "1/10/0/h100/5"
    assert second.event_id == "1/10/0/h101/9"
    assert first.result.host is first.host
    built = eager(first, "10.0.0.1")
    assert first == built
    assert hash(first) == hash(built)
    assert repr(first) == repr(built)
    assert first != eager(first, "10.9.9.9")  # the result is compared


def test_host_transition_has_no_lazy_fill() -> None:
    # A plain frozen value: every slot set by ``__init__``, no ``__getattr__`` behind it.
    assert "__getattr__" not in vars(HostTransition)
    first, _ = transitions([])
    for field in attrs.fields(HostTransition):
        getattr(first, field.name)  # (every slot is set: none raises)
    with pytest.raises(AttributeError):
        first.hots  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        first.visit = 2  # type: ignore[misc]


def test_pickle_evolve_and_json_see_the_host() -> None:
    first, second = transitions([])
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


def test_a_host_row_read_as_a_container_is_refused() -> None:
    def container(key, code, row):
        return ContainerResult(Container(1), HostStatus(code))

    observation = observe_job(job_body(1, 2, [(10, 2, 0, [5])]), Generation.V3)
    with pytest.raises(TypeError, match="ContainerResult"):
        observe(EMPTY, 1, observation, lambda: NOW, container)


def test_an_older_formats_id_is_kept_through_evolve() -> None:
    first, _ = transitions([])
    old = attrs.evolve(first, _id="1/10/0/h100/none-5/1")
    assert old.event_id == "1/10/0/h100/none-5/1"
    assert old == first  # (the id is not part of the value)
    assert attrs.evolve(old, visit=2).event_id == "1/10/0/h100/none-5/1"
