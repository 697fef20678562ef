"""The poller's fast path (``_observe``) and the converter read every job status alike.

Both are fed the same generated answers, v2, v3 and the gateway v4's execute objects, with every spelling a server (or a broken
proxy) may use for ids, statuses and booleans, duplicate and aliased host rows, and answers about
another job. Either both refuse (``ResponseFormatError``), or both see the same finished flag,
job status, steps, host keys and host statuses. Fields the fast path does not read (a host's
times, tag, or its address beside its id) are generated well-formed: they are the converter's
alone, read when a changed host's row is structured.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bkjob_async import JobInstanceStatus, JobStatusPage, ResponseFormatError
from bkjob_async._converter import Generation, read_epoch_ms, structure
from bkjob_async._observe import observe_job, observe_job_list
from bkjob_async.polling._census import _earliest
from tests.properties import examples

UTC = _dt.timezone.utc
ABSENT = object()


#: Values that are not integers a server may send, or integers out of range.
NOT_INTS = [True, False, None, 2.5, float("nan"), float("inf"), " 3", "3.0", "0x3", "", "٣", [], {}, 2**63, -(2**63) - 1, 1e19]  # fmt: skip
NOT_CODES = [*NOT_INTS, 2**31, -(2**31) - 1]
NOT_BOOLS = ["yes", "1", 2, None, 0.5, "", []]


class Chaos:
    """How often a generated value is broken: never, rarely or often (drawn per answer)."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.odds = draw(st.sampled_from([0, 0, 50, 5]))

    def broken(self) -> bool:
        return self.odds > 0 and self.draw(st.integers(0, self.odds - 1)) == 0

    def value(self, good: st.SearchStrategy[Any], bad: list[Any]) -> Any:
        return self.draw(st.sampled_from(bad)) if self.broken() else self.draw(good)

    def spelled(self, low: int, high: int, bad: list[Any]) -> Any:
        """An integer in ``low..high`` as an int, an integral float or a string; or a bad value."""
        n = self.draw(st.integers(low, high))
        return self.value(st.sampled_from([n, n, float(n), str(n)]), bad)

    def fields(self, **fields: Any) -> dict[str, Any]:
        """Keep each field, or (when broken) leave it out."""
        return {k: v for k, v in fields.items() if not self.broken()}


def host_row(chaos: Chaos) -> Any:
    draw = chaos.draw
    identity = draw(st.sampled_from(["bk_host_id", "host_id", "both", "address"]))
    row: dict[str, Any] = {"status": chaos.spelled(1, 9, NOT_CODES)}
    if identity in ("bk_host_id", "both"):
        row["bk_host_id"] = chaos.spelled(1, 3, NOT_INTS)
    if identity in ("host_id", "both"):
        row["host_id"] = chaos.spelled(1, 3, NOT_INTS)
    # The address is the key of a host without an id. Beside an id it is a field like any other
    # of the row, which the poller structures only when the host changes: kept well-formed.
    keyed = identity == "address"
    row.update(
        bk_cloud_id=chaos.value(
            st.sampled_from([0, "0", 0.0, 1, None]), ["x", True, 2.5] if keyed else [0]
        ),
        ip=chaos.value(
            st.sampled_from(["10.0.0.1", "10.0.0.2", "", None, 5]),
            [[], {}, True] if keyed else [""],
        ),
    )
    if draw(st.booleans()):
        row["ipv6"] = draw(st.sampled_from(["::1", None]))
    row = chaos.fields(**row)
    return chaos.value(st.just(row), [5, "row", []])


def host_list(chaos: Chaos) -> Any:
    rows = [host_row(chaos) for _ in range(chaos.draw(st.integers(0, 5)))]
    return chaos.value(st.sampled_from([rows, rows, rows, None]), ["", 0, {}, "x"])


def object_row(chaos: Chaos) -> Any:
    """A gateway v4 execute object row: a host, a container, or one of a type not known."""
    kind = chaos.draw(st.sampled_from(["host", "container", "other"]))
    target: dict[str, Any] = {"type": {"host": 1, "container": 2, "other": 3}[kind]}
    target["type"] = chaos.value(st.sampled_from([target["type"], str(target["type"])]), NOT_CODES)
    if kind == "host":
        host = host_row(chaos)
        if isinstance(host, dict):
            host.pop("status", None)
        target["host"] = host
    elif kind == "container":
        # Only the id is the key; the name is read when the container changed: well-formed.
        target["container"] = chaos.value(
            st.just({"id": chaos.spelled(1, 3, NOT_INTS), "name": "job-execute"}), [None, 5]
        )
    row = chaos.fields(execute_object=target, status=chaos.spelled(1, 9, NOT_CODES))
    return chaos.value(st.just(row), [5, "row", []])


def object_list(chaos: Chaos) -> Any:
    rows = [object_row(chaos) for _ in range(chaos.draw(st.integers(0, 5)))]
    return chaos.value(st.sampled_from([rows, rows, rows, None]), ["", 0, {}, "x"])


def step(chaos: Chaos, hosts_key: str, v2: bool) -> Any:
    v4 = hosts_key == "step_execute_object_result_list"
    fields = {
        "step_instance_id": chaos.spelled(1, 4, NOT_INTS),
        "status": chaos.spelled(1, 15, NOT_CODES),
        "execute_count": chaos.value(st.sampled_from([0, 1, "2", 1.0, None]), NOT_INTS),
        hosts_key: object_list(chaos) if v4 else host_list(chaos),
    }
    if v2 and chaos.draw(st.booleans()):
        fields["retry_count"] = chaos.value(st.sampled_from([0, 3]), ["x"])
    fields = chaos.fields(**fields)
    return chaos.value(st.just(fields), [5, "step", []])


@st.composite
def answers(draw: st.DrawFn, generation: Generation, v4: bool = False) -> Any:
    chaos = Chaos(draw)
    v2 = generation is Generation.V2
    job = chaos.fields(
        job_instance_id=chaos.value(st.sampled_from([7, 7, 7.0, "7", 8]), NOT_INTS),
        status=chaos.spelled(1, 15, NOT_CODES),
    )
    hosts_key = "step_ip_status" if v2 else "step_ip_result_list"
    if v4:
        hosts_key = "step_execute_object_result_list"
    steps = [step(chaos, hosts_key, v2) for _ in range(draw(st.integers(0, 3)))]
    steps = chaos.value(st.just(steps), [None, "", 0, {}])
    data: dict[str, Any] = {
        "is_finished" if v2 else "finished": chaos.value(
            st.sampled_from([True, False, 0, 1, 1.0, "true", "false", "TRUE", "False"]), NOT_BOOLS
        ),
        "job_instance": chaos.value(st.just(job), [None, [], "job"]),
    }
    if v2:
        data["blocks"] = chaos.value(st.just([{"step_instances": steps}]), [steps, None, "x"])
    else:
        data["step_instance_list"] = steps
    data = chaos.fields(**data)
    return chaos.value(st.just(data), [None, [], "data"])


def via_converter(data: Any, generation: Generation, expected: int | None) -> Any:
    try:
        status = structure(data, JobInstanceStatus, generation, UTC)
    except ResponseFormatError:
        return "refused"
    if expected is not None and status.job.job_instance_id != expected:
        return "refused"  # as BkJobClient.get_job_instance_status does
    return (
        status.finished,
        int(status.job.status),
        [
            (
                s.step_instance_id,
                int(s.status),
                s.execute_count or 0,
                None
                if s.hosts is None
                else [(h.host.key, int(h.status)) for h in s.hosts]
                + [(c.container.key, int(c.status)) for c in s.containers or ()],
            )
            for s in status.steps
        ],
    )


def via_observe(data: Any, generation: Generation, expected: int | None) -> Any:
    try:
        seen = observe_job(data, generation, expected_job_instance_id=expected)
    except ResponseFormatError:
        return "refused"
    return (
        seen.finished,
        seen.status,
        [
            (
                s.step_instance_id,
                s.status,
                s.execute_count,
                None if s.hosts is None else [(key, code) for key, code, _ in s.hosts],
            )
            for s in seen.steps
        ],
    )


@pytest.mark.parametrize("generation", list(Generation))
@settings(max_examples=examples(600), deadline=None)
@given(data=st.data())
def test_fast_path_and_converter_agree(generation: Generation, data: st.DataObject) -> None:
    answer = data.draw(answers(generation))
    expected = data.draw(st.sampled_from([None, 7]))
    assert via_observe(answer, generation, expected) == via_converter(answer, generation, expected)


def _by_key(seen: Any) -> Any:
    """The same reading with each step's rows as a map (v4 lists hosts and containers mixed,
    the converter each kind apart)."""
    if seen == "refused":
        return seen
    finished, status, steps = seen
    return finished, status, [(*s[:3], None if s[3] is None else dict(s[3])) for s in steps]


@settings(max_examples=examples(600), deadline=None)
@given(data=st.data())
def test_fast_path_and_converter_agree_on_v4_execute_objects(data: st.DataObject) -> None:
    answer = data.draw(answers(Generation.V3, v4=True))
    expected = data.draw(st.sampled_from([None, 7]))
    seen = via_observe(answer, Generation.V3, expected)
    assert _by_key(seen) == _by_key(via_converter(answer, Generation.V3, expected))


def test_a_container_and_a_host_of_one_id_are_two_keys() -> None:
    rows = [
        {"execute_object": {"type": 1, "host": {"bk_host_id": 5}}, "status": 7},
        {"execute_object": {"type": 2, "container": {"id": 5}}, "status": 9},
        {"execute_object": {"type": 3, "pod": {"id": 5}}, "status": 3},
    ]
    answer = v3_answer()
    answer["step_instance_list"][0] = {
        "step_instance_id": 1,
        "status": 2,
        "step_execute_object_result_list": rows,
    }
    seen = via_observe(answer, Generation.V3, None)
    assert seen[2][0][3] == [(5, 7), (("container", 5), 9)]
    assert _by_key(seen) == _by_key(via_converter(answer, Generation.V3, None))


# --- the disagreements the issue found, one by one -----------------------------------------


def v3_answer(**job: Any) -> dict[str, Any]:
    rows = job.pop("rows", [{"host_id": 101, "ip": "10.0.0.1", "bk_cloud_id": 0, "status": 3}])
    return {
        "finished": job.pop("finished", False),
        "job_instance": {"job_instance_id": 7, "status": 2, **job},
        "step_instance_list": [{"step_instance_id": 1, "status": 2, "step_ip_result_list": rows}],
    }


def both(answer: Any, expected: int | None = None) -> Any:
    seen = via_observe(answer, Generation.V3, expected)
    assert seen == via_converter(answer, Generation.V3, expected)
    return seen


def test_host_id_alias_is_the_key_for_both() -> None:
    assert both(v3_answer())[2][0][3] == [(101, 3)]


def test_finished_spelled_as_a_string_ends_the_job_for_both() -> None:
    assert both(v3_answer(finished="true"))[0] is True


def test_integral_float_status_is_read_by_both() -> None:
    assert both(v3_answer(status=3.0))[1] == 3


def test_an_answer_about_another_job_is_refused() -> None:
    assert both(v3_answer(), expected=7) != "refused"
    assert both(v3_answer(job_instance_id=8), expected=7) == "refused"
    with pytest.raises(ResponseFormatError, match="another job"):
        observe_job(v3_answer(job_instance_id=8), Generation.V3, expected_job_instance_id=7)


def test_duplicate_rows_for_one_host_last_wins_in_both() -> None:
    rows = [
        {"bk_host_id": 1, "status": 2},
        {"bk_host_id": 2, "status": 2},
        {"bk_host_id": 1, "status": 9},
        {"host_id": 1, "status": 3},
    ]
    assert both(v3_answer(rows=rows))[2][0][3] == [(1, 3), (2, 2)]


@pytest.mark.parametrize("status", [True, 2**31, "3 ", "٣", 2.5])
def test_bad_statuses_are_refused_by_both(status: Any) -> None:
    assert both(v3_answer(status=status)) == "refused"


def test_refusals_never_quote_the_value() -> None:
    secret = "s3cr3t-echoed-by-a-proxy"
    answer = v3_answer(rows=[{"bk_host_id": 1, "status": secret}])
    with pytest.raises(ResponseFormatError) as info:
        observe_job(answer, Generation.V3)
    assert secret not in str(info.value)
    assert info.value.__cause__ is None


# --- the job list's rows, read by the census -------------------------------------------------


#: Epoch milliseconds around the ends of what a ``datetime`` holds (outside them: refused).
EDGE_MS = [-62_135_596_800_001, -62_135_596_800_000, 253_402_300_799_999, 253_402_300_800_000]


@st.composite
def job_lists(draw: st.DrawFn) -> Any:
    """A page of the job list: rows of every spelling of ids, codes and times, broken or not."""
    chaos = Chaos(draw)
    times = st.sampled_from([1_764_000_000_000, 0, -5, 1.5e12, "2026-11-26 09:00:00", *EDGE_MS])
    rows = [
        chaos.value(
            st.just(
                chaos.fields(
                    job_instance_id=chaos.spelled(1, 4, NOT_INTS),
                    status=chaos.spelled(1, 15, NOT_CODES),
                    create_time=chaos.value(times, [True, "soon", [], float("nan"), None]),
                    name="job",
                )
            ),
            [5, "row", []],
        )
        for _ in range(draw(st.integers(0, 6)))
    ]
    page = chaos.fields(
        start=chaos.spelled(0, 3, NOT_INTS),
        total=chaos.spelled(0, 9, NOT_INTS),
        data=chaos.value(st.sampled_from([rows, rows, None]), ["", 0, {}, "x"]),
        length=20,
    )
    return chaos.value(st.just(page), [None, [], "page"])


@settings(max_examples=examples(600), deadline=None)
@given(page=job_lists())
def test_the_census_reads_the_job_list_as_the_converter_does(page: Any) -> None:
    # ``observe_job_list`` reads a page only where the converter reads it alike; else it says
    # ``None`` and the census has the converter read (or refuse) the page.
    fast = observe_job_list(page)
    try:
        whole = structure(page, JobStatusPage, Generation.V3, UTC)
    except ResponseFormatError:
        assert fast is None
        return
    if fast is None:  # (only for a value not in its common form: a time not an int)
        times = [row.get("create_time") for row in page["data"]]
        assert any(t is not None and type(t) is not int for t in times)
        return
    count, total, rows = fast
    assert (count, total) == (len(whole.rows), whole.total)
    assert {i: (s, None if t is None else read_epoch_ms(t)) for i, (s, t) in rows.items()} == {
        row.job_instance_id: (row.status, row.create_time) for row in whole.rows
    }


def test_the_census_reads_a_common_page_itself() -> None:
    rows = [
        {"job_instance_id": 5, "status": 3, "create_time": 1_764_000_000_000},
        {"job_instance_id": 6, "status": "2", "create_time": None},
        {"job_instance_id": 5, "status": 4, "create_time": 1_764_000_000_001},
    ]
    page = {"start": 0, "length": 20, "total": 3, "data": rows}
    assert observe_job_list(page) == (3, 3, {5: (4, 1_764_000_000_001), 6: (2, None)})


def test_the_census_takes_the_earliest_time_of_either_form() -> None:
    # A page the converter read keeps its times as datetimes, one read fast as epoch ms.
    dated = read_epoch_ms(2_000)
    assert _earliest([5_000, dated, 3_000]) == dated
    assert _earliest([1_000, dated]) == read_epoch_ms(1_000)
    assert _earliest([dated]) is dated
