"""The Chinese site's machinery: the message counter (docs/_ext/catalogs.py), and where the
language switch (docs/_ext/languages.py) points, locally and on Read the Docs."""

from __future__ import annotations

import importlib
import pathlib
import sys

import pytest

EXT = pathlib.Path(__file__).resolve().parents[2] / "docs" / "_ext"


@pytest.fixture(scope="module")
def ext():
    sys.path.insert(0, str(EXT))
    try:
        yield importlib.import_module("catalogs"), importlib.import_module("languages")
    finally:
        sys.path.remove(str(EXT))


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
    po = tmp_path / "page.po"
    po.write_text(PO, encoding="utf-8")
    # The header is no message, and neither is an obsolete entry.
    assert catalogs.count(po) == catalogs.Counts(translated=1, fuzzy=1, untranslated=2)
    assert catalogs.count(po).left == 3


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
