"""The engine's status rules: the table in ``_statuses``' docstring is the sets, and agrees with bk-job."""

from __future__ import annotations

from bkjob_async.models import FINISHED_JOB_STATUSES, HostStatus, JobStatus
from bkjob_async.polling import _statuses as _rules
from bkjob_async.polling.events import PERSON_WAITING

COLUMNS = {"waits": "WAITS_FOR_A_PERSON", "not over": "NOT_OVER", "passes": "PASSES"}


def _table() -> dict[str, dict[str, bool]]:
    """``{status name: {column: marked}}`` from the rule table of the module's docstring."""
    lines = (_rules.__doc__ or "").splitlines()
    borders = [i for i, line in enumerate(lines) if line.startswith("=====")]
    header, rows = lines[borders[0] + 1], lines[borders[1] + 1 : borders[2]]
    spans = []
    for word in ("status", "code", *COLUMNS, "why"):
        spans.append(header.index(word))
    table = {}
    for row in rows:
        cells = [row[a:b].strip() for a, b in zip(spans, [*spans[1:], None], strict=True)]
        name, code = cells[0], int(cells[1])
        assert int(JobStatus[name]) == code, name
        table[name] = {
            column: cell == "x" for column, cell in zip(COLUMNS, cells[2:5], strict=True)
        }
    return table


def test_the_table_lists_every_known_status_and_is_the_sets() -> None:
    table = _table()
    assert set(table) == set(JobStatus.__members__)
    for column, name in COLUMNS.items():
        marked = {int(JobStatus[s]) for s, marks in table.items() if marks[column]}
        assert marked == getattr(_rules, name), column


def test_a_status_is_either_not_over_or_one_bk_job_calls_finished() -> None:
    known = {int(s) for s in JobStatus}
    finished = {int(s) for s in FINISHED_JOB_STATUSES}
    assert _rules.NOT_OVER | finished == known
    assert not _rules.NOT_OVER & finished


def test_the_waits_are_not_started_or_the_public_person_waiting() -> None:
    assert {int(s) for s in PERSON_WAITING} | {_rules.STARTING} == _rules.WAITS_FOR_A_PERSON
    assert _rules.WAITS_FOR_A_PERSON <= _rules.NOT_OVER


def test_the_ends_for_good_are_ends_and_passed_through() -> None:
    finished = {int(s) for s in FINISHED_JOB_STATUSES}
    assert finished >= _rules.ENDS_FOR_GOOD
    assert _rules.ENDS_FOR_GOOD <= _rules.PASSES
    assert {JobStatus.BLANK, JobStatus.RUNNING} == _rules.PASSES - _rules.ENDS_FOR_GOOD


def test_a_hosts_ranks_are_its_two_statuses_before_an_end() -> None:
    pending = {int(s) for s in HostStatus if not s.is_finished}
    assert set(_rules.HOST_RANK) == pending
    assert sorted(_rules.HOST_RANK.values()) == [0, 1]
    assert _rules.HOST_ENDED == 2
    assert _rules.HOST_RANK[HostStatus.WAITING] < _rules.HOST_RANK[HostStatus.RUNNING]
    for rank, passed in enumerate(_rules.HOST_PASSED):
        assert {status for status, _ in passed} == {
            s for s, r in _rules.HOST_RANK.items() if r < rank
        }


def test_every_rule_holds_plain_ints() -> None:
    for name in ("WAITS_FOR_A_PERSON", "NOT_OVER", "ENDS_FOR_GOOD", "PASSES"):
        assert all(type(code) is int for code in getattr(_rules, name)), name
