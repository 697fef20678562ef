"""How the pages read (docs/_ext/prose.py, issue 89): sentence length in both languages, the
calques and the half-width punctuation refused in Chinese, and the state of the docs: every page
rewritten passes, and those pages are listed in one place."""

from __future__ import annotations

import importlib

import pytest

from ..docs_ext import extensions_importable


@pytest.fixture(scope="module")
def prose():
    pytest.importorskip("babel")
    with extensions_importable():
        yield importlib.import_module("prose")


def test_a_chinese_sentence_ends_at_a_full_stop_and_counts_without_markup(prose) -> None:
    text = "轮询器**降速**，见[性能](../performance.md)。`max_in_flight` 的四分之一！还有"
    assert prose.zh_sentences(text) == ["轮询器降速，见性能。", "max_in_flight的四分之一！", "还有"]


def test_an_english_sentence_ends_at_a_stop_not_at_an_abbreviation(prose) -> None:
    text = "Outages never end a watch. bk-job is down, e.g. when [it](x.md) stalls. `a.b` ends."
    assert prose.en_sentences(text) == [
        "Outages never end a watch.",
        "bk-job is down, e.g. when it stalls.",
        "a.b ends.",
    ]


def test_a_long_sentence_is_a_finding_in_either_language(prose) -> None:
    page = prose.Page("p")
    prose.check_english(page, " ".join(["word"] * 45) + ". " + " ".join(["word"] * 46) + ".")
    assert page.sentences == 2
    assert [f.split(":")[0] for f in page.findings] == ["46 words"]
    page = prose.Page("p")
    # 80, 81, 120 and 121 characters, the full stop counted
    prose.check_chinese(page, "长" * 79 + "。" + "长" * 80 + "。" + "长" * 119 + "。" + "长" * 121)
    assert page.sentences == 4
    assert len(page.long) == 2  # (81 and 120: over 80; 121 is over 120, a finding)
    assert [f.split(":")[0] for f in page.findings] == ["121 characters"]


def test_too_many_long_chinese_sentences_together_are_a_finding(prose) -> None:
    pages = [prose.Page("a", sentences=50, long=["长" * 81]), prose.Page("b", sentences=50)]
    assert prose.share(pages) is None  # 1 in 100
    pages[1].long = ["长" * 90] * 3
    assert "4 of 100 sentences" in prose.share(pages)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("服务中断从不结束监视。", "从不"),
        ("响应的信封里有 result。", "信封"),
        ("status 3 读作成功。", "读作"),
        ("时间是纪元毫秒。", "纪元毫秒"),
        ("每作业小时 2 个请求。", "每作业小时"),
        ("请求少 129 倍。", "少 129 倍"),
    ],
)
def test_a_calque_is_refused(prose, text: str, found: str) -> None:
    page = prose.Page("p")
    prose.check_chinese(page, text)
    assert [f for f in page.findings if f.startswith(f"calque {found!r}")], page.findings


def test_half_width_punctuation_in_chinese_is_refused_outside_code(prose) -> None:
    page = prose.Page("p")
    prose.check_chinese(page, "作业,主机;步骤: 结束.")
    assert len(page.findings) == 4, page.findings  # (",", ";", ":" and the final ".")
    page = prose.Page("p")
    prose.check_chinese(page, "作业（`a,b`）与 `x: 1`，结束。安全密钥(应用 TOKEN)")
    assert page.findings == []


def test_the_glossarys_first_column_shows_the_chinese_words_first(prose) -> None:
    def flagged(cell: str) -> bool:
        page = prose.Page(prose.GLOSSARY)
        prose.check_glossary(page, {"job, job instance": cell}, "zh_CN")
        return any("'job, job instance'" in finding for finding in page.findings)

    assert flagged("job, job instance")  # (the English kept: half the page English)
    assert not flagged("作业实例、作业")


def test_the_pages_rewritten_pass_and_are_listed_in_one_place(prose) -> None:
    """The state of the docs, as the strict build checks it (``make docs``)."""
    names = {name for name, _ in prose.catalogs("zh_CN")} | {"README"}
    assert names >= prose.STRICT, sorted(prose.STRICT - names)  # (no stale name)
    assert {"explanation/faults", "explanation/api-generations", "README"} <= prose.STRICT
    reference = {"bkjob-api", "bkjob-api-list", "cli", "configuration", "endpoints", "glossary"}
    assert {f"reference/{name}" for name in reference} <= prose.STRICT
    for language in ("en", "zh_CN"):
        failing, _ = prose.findings(language)
        assert failing == [], (language, failing)
