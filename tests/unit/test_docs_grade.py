"""Issue 89's counts of the Chinese site (docs/_ext/grade.py): what one message adds to a page's
row, and the table's total over every page."""

from __future__ import annotations

import importlib

import pytest

from ..docs_ext import extensions_importable


@pytest.fixture(scope="module")
def grade():
    pytest.importorskip("babel")
    with extensions_importable():
        yield importlib.import_module("grade")


def test_a_message_counts_its_long_sentences_marks_and_calques(grade) -> None:
    row = grade.Row("page")
    row.add("它从不停下：一个作业；" + "长" * 121 + "。短句。")
    assert row.sentences == 2
    assert row.over == [1, 1, 0]
    assert (row.colons, row.semicolons, row.it, row.one, row.calques) == (1, 1, 1, 1, 1)


def test_the_table_lists_the_pages_asked_for_and_totals_them_all(grade) -> None:
    first, second = grade.Row("a"), grade.Row("b")
    first.add("每作业小时的请求少 129 倍。")
    second.add("它。")
    lines = grade.table([first, second], ["b"]).splitlines()
    assert [line.split(" | ")[0] for line in lines] == ["| page", "| ---", "| b", "| total"]
    assert lines[-1].split(" | ")[1] == "2"  # sentences: one a page
    assert lines[-1].endswith("| 2 |")  # calques: both of the first page's
