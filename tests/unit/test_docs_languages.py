"""The Chinese site's machinery and its state: the message counter (docs/_ext/catalogs.py),
the real catalogs (nothing left in English, markup kept), the zh_CN build's warning of a message
it shows in English (docs/_ext/untranslated.py), and where the language switch
(docs/_ext/languages.py) points, locally and on Read the Docs."""

from __future__ import annotations

import functools
import importlib
import pathlib
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest

from ..docs_ext import DOCS, extensions_importable, one_page_site


@pytest.fixture(scope="module")
def ext():
    with extensions_importable():
        yield importlib.import_module("catalogs"), importlib.import_module("languages")


def _counted(catalogs: Any, folder: pathlib.Path, text: str) -> Any:
    """The counts of a page's catalog whose text is ``text``, written in ``folder``."""
    po = folder / "page.po"
    po.write_text(text, encoding="utf-8")
    return catalogs.count(po)


PO = """\
#, fuzzy
msgid ""
msgstr ""
"Language: zh_CN\\n"
"Content-Type: text/plain; charset=utf-8\\n"

msgid "Tutorial"
msgstr "教程"

#, fuzzy
msgid "Install it"
msgstr "安装"

msgid "Run it"
msgstr ""

msgid "Watch it"
msgstr ""

#~ msgid "An old message"
#~ msgstr "一条旧消息"
"""


def test_the_counter_tells_translated_fuzzy_and_untranslated_apart(ext, tmp_path) -> None:
    catalogs, _ = ext
    counts = _counted(catalogs, tmp_path, PO)
    # The header is no message, and neither is an obsolete entry.
    assert counts == catalogs.Counts(translated=1, fuzzy=1, untranslated=2)
    assert counts.left == 3


def test_the_counter_reports_a_page_without_a_catalog_and_fails_only_when_strict(
    ext, tmp_path, monkeypatch, capsys
) -> None:
    catalogs, _ = ext
    (tmp_path / "howto").mkdir()
    (tmp_path / "index.md").write_text("# Index\n", encoding="utf-8")
    (tmp_path / "howto" / "census.md").write_text("# Census\n", encoding="utf-8")
    (tmp_path / "reference" / "api").mkdir(parents=True)
    (tmp_path / "reference" / "api" / "bkjob_async.md").write_text("# generated\n")
    folder = tmp_path / "locale" / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "index.po").write_text(PO, encoding="utf-8")
    counts, missing = catalogs.report("zh_CN", tmp_path)
    assert missing == ["howto/census"]  # the generated API reference needs none
    assert counts == {"index": catalogs.Counts(1, 1, 2)}
    monkeypatch.setattr(catalogs, "report", lambda language: (counts, missing))
    assert catalogs.main(["--quiet"]) == 0
    out = capsys.readouterr().out
    assert "1 messages translated, 1 fuzzy, 2 untranslated" in out
    assert "1 without" in out
    assert catalogs.main(["--quiet", "--strict"]) == 1


def test_the_switch_links_the_same_page_in_the_other_language(ext) -> None:
    _, languages = ext
    # make docs: English at the root, Chinese in zh_CN/.
    assert languages.roots("en") == {"en": "", "zh_CN": "zh_CN/"}
    assert languages.roots("zh_CN") == {"en": "../", "zh_CN": ""}
    # Read the Docs: /en/<version>/ and /zh-cn/<version>/, two projects side by side.
    assert languages.roots("en", readthedocs_version="latest")["zh_CN"] == "../../zh-cn/latest/"
    assert languages.roots("zh_CN", readthedocs_version="v1.2")["en"] == "../../en/v1.2/"


STILL_ENGLISH = """\
msgid ""
msgstr ""
"Language: zh_CN\\n"
"Content-Type: text/plain; charset=utf-8\\n"

msgid "Read or write"
msgstr "Read or write"

msgid "Run it"
msgstr "Run this"

msgid "Watch it"
msgstr "监视它"

msgid "`BkJobClient.call`"
msgstr "`BkJobClient.call`"

msgid "GET + POST"
msgstr "GET + POST"

msgid "ESB jobv3, `bk_biz_id`: bool"
msgstr "ESB jobv3, `bk_biz_id`: bool"

msgid "**BKDocs**: TencentBlueKing/BKDocs, 1,264 ms"
msgstr "**BKDocs**: TencentBlueKing/BKDocs, 1,264 ms"

msgid "bkjob-async cluster status"
msgstr "bkjob-async cluster status"

# English on purpose: Redis's own name for it
msgid "Sentinel"
msgstr "Sentinel"

msgid "Redis Cluster"
msgstr "Redis Cluster"
"""


def test_a_translation_that_is_still_english_prose_is_not_translated(ext, tmp_path) -> None:
    catalogs, _ = ext
    counts = _counted(catalogs, tmp_path, STILL_ENGLISH)
    # A copy of English prose, or English rewritten, is not a translation; identifiers, names,
    # paths, types, units and a command of the command line read the same in Chinese; a
    # translator comment keeps a name in English on purpose (and is counted as such).
    assert counts == catalogs.Counts(translated=7, english=3, kept=1)
    assert counts.left == 3
    assert catalogs.prose("`BkJobClient.call` (a `str`) in ``x`` or :py:obj:`y`") == ["in", "or"]
    assert catalogs.prose("[the list](bkjob-api-list.md), https://bk.example/a b") == [
        "the",
        "list",
    ]
    assert catalogs.still_english("Here", "Here")
    assert not catalogs.still_english("Here", "本库")
    assert not catalogs.still_english("HTTP 429, ESB v2", "HTTP 429, ESB v2")


def test_the_chinese_site_leaves_no_message_in_english(ext) -> None:
    """The real catalogs: every page has one, with no untranslated, fuzzy or English entry."""
    catalogs, _ = ext
    counts, missing = catalogs.report("zh_CN")
    assert missing == []
    left = {page: c for page, c in counts.items() if c.left}
    assert left == {}, "translate these (docs/locale/zh_CN/LC_MESSAGES/<page>.po)"
    assert sum(counts.values(), catalogs.Counts()).translated > 2000


@functools.cache
def _commonmark() -> Any:
    """One CommonMark parser for every message (building one is most of a short parse's cost;
    a parse keeps nothing in it)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark")


def _markup(text: str) -> Counter[str]:
    """Count the bold, emphasis, code and links of a message, as MyST's parser reads them,
    and each code span's text and each link's target."""
    found: Counter[str] = Counter()
    for block in _commonmark().parseInline(text):
        for token in block.children or []:
            if token.type in ("strong_open", "em_open", "code_inline", "link_open"):
                found[token.type] += 1
            # What a code span says and where a link goes are not translated either.
            if token.type == "code_inline":
                found[f"`{token.content}`"] += 1
            elif token.type == "link_open":
                found[f"({token.attrs.get('href')})"] += 1
    return found


def test_each_translation_keeps_the_markup_of_its_english(ext) -> None:
    """Bold, emphasis, code and links survive translation (CommonMark's rules on CJK text:
    ``**粗体。**后文`` is no bold, it shows its asterisks, where ``**粗体**。后文`` is)."""
    pytest.importorskip("markdown_it")
    from babel.messages.pofile import read_po

    assert _markup("**Rolls back.** Then") == _markup("**回滚**。然后")
    assert _markup("**Rolls back.** Then") != _markup("**回滚。**然后")
    broken = []
    for po in sorted((DOCS / "locale" / "zh_CN" / "LC_MESSAGES").rglob("*.po")):
        with po.open("rb") as f:
            for message in read_po(f):
                translated = message.id and message.string and not message.fuzzy
                if translated and _markup(message.id) != _markup(message.string):
                    broken.append(f"{po.stem}: {message.string[:60]}")
    assert broken == []


PAGE = "# Install\n\n## 1. Start\n\nRun it.\n\nWatch it.\n"
TRANSLATION = """\
msgid ""
msgstr ""
"Language: zh_CN\\n"
"Content-Type: text/plain; charset=utf-8\\n"

msgid "Install"
msgstr "安装"

msgid "1. Start"
msgstr "{start}"

msgid "Run it."
msgstr "运行它。"
{watch}"""


def _build_in_chinese(tmp_path: pathlib.Path, start: str, watch: str) -> subprocess.Popen[str]:
    """Start building a one-page site in zh_CN with the check of ``_ext/untranslated.py``; its
    warnings are what ``_warnings`` reads of the process."""
    src = tmp_path / "src"
    po = one_page_site(src, PAGE, ["untranslated"]) / "index.po"
    po.write_text(TRANSLATION.format(start=start, watch=watch), encoding="utf-8")
    for mo in po.parent.glob("*.mo"):
        mo.unlink()
    # A process of its own: Sphinx keeps the catalogs it loaded for the rest of a process.
    argv = [sys.executable, "-m", "sphinx", "-q", "-E", "-b", "html", "-D", "language=zh_CN"]
    return subprocess.Popen(
        [*argv, str(src), str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _warnings(build: subprocess.Popen[str]) -> str:
    """Wait for a build (120 s at most) and return its warnings."""
    try:
        _, err = build.communicate(timeout=120)
    finally:
        build.kill()
    assert build.returncode == 0, err
    return err


@pytest.mark.timeout(300)  # two Sphinx builds, processes of their own: 120 s each at most
def test_the_chinese_build_warns_of_a_message_it_shows_in_english(ext, tmp_path) -> None:
    pytest.importorskip("myst_parser")
    # "Watch it." is new on the English page (no entry yet); "1. 开始" parses as a list, not
    # a title, so Sphinx drops it and shows the English heading.
    first = _build_in_chinese(tmp_path / "a", start="1. 开始", watch="")
    # Escaped, the heading is a title; with its entry the new message is translated too.
    # (The two builds run at once: they share nothing.)
    second = _build_in_chinese(
        tmp_path / "b", start="1\\\\. 开始", watch='\nmsgid "Watch it."\nmsgstr "监视它。"\n'
    )
    try:
        warned = _warnings(first)
    finally:
        done = _warnings(second)
    assert "'1. Start'" in warned
    assert "'Watch it.'" in warned
    assert "Run it" not in warned
    assert "Install" not in warned
    assert "untranslated" not in done, done
