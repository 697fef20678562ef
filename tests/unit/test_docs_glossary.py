"""The Chinese pages' glossary held as data (docs/locale/zh_CN/glossary.toml) and its check
(docs/_ext/glossary.py): drifting spellings, terms outside it, English left bare, the glossary
page written from it; and the review list of a change (docs/_ext/catalogs.py --review)."""

from __future__ import annotations

import importlib
import pathlib
import subprocess

import pytest

from ..docs_ext import extensions_importable


@pytest.fixture(scope="module")
def ext():
    with extensions_importable():
        yield importlib.import_module("glossary"), importlib.import_module("catalogs")


def _terms(glossary):
    term = glossary.Term
    return [
        term("S", "job", ("作业实例", "作业"), "", en=("job", "job instance")),
        term("S", "cron", ("定时任务",), "", en=("cron", "cron job"), drift=("定时作业",)),
        term("S", "response", ("响应", "返回结果"), "", drift=("应答",)),
        term("S", "worker", ("工作进程",), "", bare=("worker",)),
    ]


def test_a_concept_spelled_another_way_drifts(ext) -> None:
    glossary, _ = ext
    terms = _terms(glossary)
    found = glossary.check_message(terms, "The answer", "服务器的应答", exempt=False)
    assert found == ["'应答' drifts: write 响应 / 返回结果 (response)"]
    assert glossary.check_message(terms, "The answer", "服务器的响应", exempt=False) == []
    # The English quotes bk-job's own word: the translation may too. In code it is no prose.
    assert glossary.check_message(terms, "bk-job says 应答", "bk-job 写作应答", exempt=False) == []
    assert glossary.check_message(terms, "Run `x`", "运行 `应答`", exempt=True) == []


def test_a_concept_of_the_english_needs_the_glossarys_word(ext) -> None:
    glossary, _ = ext
    terms = _terms(glossary)
    (found,) = glossary.check_message(terms, "Wait for the jobs", "等待任务结束", exempt=False)
    assert found.startswith("'jobs' is not translated with the glossary's 作业实例 / 作业")
    assert glossary.check_message(terms, "Wait for the jobs", "等待作业结束", exempt=False) == []
    # A translator comment `# glossary: <why>` exempts the message from this rule.
    assert glossary.check_message(terms, "Wait for the jobs", "等待任务结束", exempt=True) == []
    # "cron job" is the cron's: its translation needs 定时任务, not 作业 besides.
    assert glossary.check_message(terms, "Save a cron job", "保存定时任务", exempt=False) == []
    found = glossary.check_message(terms, "Save a cron job", "保存定时作业", exempt=False)
    assert found == [
        "'定时作业' drifts: write 定时任务 (cron)",
        "'cron job' is not translated with the glossary's 定时任务 (cron)",
    ]


def test_an_english_word_left_bare_is_found_outside_code_and_quotations(ext) -> None:
    glossary, _ = ext
    terms = _terms(glossary)
    (found,) = glossary.check_message(terms, "Start a worker", "启动一个 worker", exempt=False)
    assert found == "'worker' left in English: write 工作进程 (worker)"
    for said in ("启动一个工作进程（worker）", "运行 `bkjob-async worker`", 'ESB 的 "job" 组件'):
        assert glossary.check_message(terms, "Start a worker", said, exempt=False) == []


def test_the_readme_is_checked_outside_its_code_blocks(ext, tmp_path) -> None:
    glossary, _ = ext
    readme = tmp_path / "README.zh-CN.md"
    readme.write_text(
        "# 标题\n\n服务器的应答。\n\n```python\nx = 1  # 应答 worker\n```\n\n启动一个 worker。\n",
        encoding="utf-8",
    )
    found = [str(p) for p in glossary.check_readme(_terms(glossary), readme)]
    assert found == [
        "README.zh-CN.md:3: '应答' drifts",
        "README.zh-CN.md:9: 'worker' left in English",
    ]


def test_the_glossary_page_is_written_from_the_data(ext) -> None:
    glossary, _ = ext
    sections = [glossary.Section("What runs", ("Here", "bk-job", "Where you meet it"))]
    terms = [glossary.Term("What runs", "job", ("作业实例", "作业"), "", where="`id`")]
    page = "# G\n\nIntro.\n\n## What runs\n\n| old | table |\n| --- | --- |\n\nAfter.\n"
    written = glossary.written_page(page, sections, terms)
    assert written == (
        "# G\n\nIntro.\n\n## What runs\n\n| Here | bk-job | Where you meet it |\n"
        "| --- | --- | --- |\n| job | 作业实例, 作业 | `id` |\n\nAfter.\n"
    )
    with pytest.raises(ValueError, match="lacks the sections"):
        glossary.written_page("# G\n", sections, terms)


def test_the_real_glossary_holds_and_every_chinese_page_keeps_it(ext) -> None:
    """The state of the docs: the page is current, and no translation drifts (as `make docs`)."""
    glossary, _ = ext
    sections, terms = glossary.load_all("zh_CN")
    assert len({t.here for t in terms}) == len(terms)
    assert all(t.source for t in terms), "every term says where bk-job uses its word"
    assert glossary.check_page(sections, terms, glossary.PAGE) == []
    problems = [p for po in glossary.catalogs("zh_CN") for p in glossary.check_catalog(terms, po)]
    problems += glossary.check_readme(terms, glossary.readme_of("zh_CN"))
    assert [str(p) for p in problems] == []


def _git(cwd: pathlib.Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


PO = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'


def test_the_review_lists_what_is_new_or_retranslated_since_a_revision(ext, tmp_path) -> None:
    _, catalogs = ext
    docs = tmp_path / "docs"
    folder = docs / "locale" / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    page = folder / "page.po"
    page.write_text(
        PO + 'msgid "Kept"\nmsgstr "保留"\n\nmsgid "Changed"\nmsgstr "旧译文"\n', "utf-8"
    )
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    page.write_text(
        PO + 'msgid "Kept"\nmsgstr "保留"\n\nmsgid "Changed"\nmsgstr "新译文"\n\n'
        'msgid "New"\nmsgstr "新增"\n\n#, fuzzy\nmsgid "Fuzzy"\nmsgstr "模糊"\n',
        "utf-8",
    )
    (folder / "other.po").write_text(PO + 'msgid "Other"\nmsgstr "另一页"\n', "utf-8")
    found = catalogs.review("zh_CN", "HEAD", docs)
    assert found == {
        "other": [("Other", "另一页")],
        "page": [("Changed", "新译文"), ("New", "新增")],
    }
