"""The Chinese site's search (docs/_ext/zhsearch.py): the fix of Sphinx's stemmer line it carries
(sphinx-doc/sphinx#14229), and the words it indexes. The browser's search of the built site is
``tests/e2e/test_docs_i18n.py``."""

from __future__ import annotations

import importlib

import pytest

from ..docs_ext import extensions_importable


@pytest.fixture(scope="module")
def zhsearch():
    pytest.importorskip("sphinx")
    with extensions_importable():
        yield importlib.import_module("zhsearch")


#: The words of jieba's dictionary in these tests: the words their sentences hold. jieba's own
#: (350,000 words) is seconds of CPU to load and, on a fresh machine with no cache of it, a
#: minute of a loaded one's: past the test's timeout (the build of the site uses it, and
#: ``tests/e2e/test_docs_i18n.py`` searches that).
WORDS = "读取 作业 实例 列表 定时 任务 统计 失败 主机 调大 轮询 间隔"


@pytest.fixture
def jieba(zhsearch, monkeypatch, tmp_path):
    """Return a jieba tokenizer on ``WORDS`` alone, the one Sphinx's Chinese search and
    ``zhsearch`` cut with during the test (jieba's own is left as it was)."""
    jieba = pytest.importorskip("jieba")
    import sphinx.search.zh

    dictionary = tmp_path / "words.txt"
    dictionary.write_text("".join(f"{word} 1000\n" for word in WORDS.split()), encoding="utf-8")
    tokenizer = jieba.Tokenizer(str(dictionary))
    tokenizer.tmp_dir = str(tmp_path)  # (its cache)
    monkeypatch.setattr(sphinx.search.zh, "cut_for_search", tokenizer.cut_for_search)
    monkeypatch.setattr(zhsearch, "cut_for_search", tokenizer.cut_for_search)
    zhsearch._parts.cache_clear()
    yield tokenizer
    zhsearch._parts.cache_clear()


def test_the_stemmer_line_names_the_class_its_script_defines(zhsearch) -> None:
    broken = "var BaseStemmer=function(){};\nvar EnglishStemmer=function(){};\n"
    fixed = zhsearch._fixed(broken + "window.Stemmer = ChineseStemmer;")
    assert fixed == broken + "window.Stemmer = EnglishStemmer;"
    # A Sphinx with the fix (or a language whose class is its own) is left as it is.
    assert zhsearch._fixed(broken + "window.Stemmer = EnglishStemmer;") is None


def test_the_search_sphinx_gets_defines_the_stemmer_it_hands_the_page(zhsearch) -> None:
    from sphinx.search import IndexBuilder, languages

    class App:
        def __init__(self) -> None:
            self.added: list[type] = []

        def add_search_language(self, cls: type) -> None:
            self.added.append(cls)

        def connect(self, *args: object) -> None:
            pass

    app = App()
    saved = languages.get("zh")
    try:
        zhsearch.setup(app)
    finally:
        languages["zh"] = saved
    (language,) = app.added
    assert language.lang == "zh"
    probe = type("Probe", (), {"lang": language.__new__(language)})()
    code = IndexBuilder.get_js_stemmer_code(probe)
    assigned = code.rsplit("window.Stemmer = ", 1)[1].rstrip(";\n ")
    assert f"var {assigned}=" in code.replace(" = ", "=")


def test_a_term_inside_a_longer_word_is_indexed_too(zhsearch, jieba) -> None:
    terms = ("作业实例", "作业实例列表", "定时任务")
    for term in terms:  # (what the build's dictionary does: html_search_options["dict"])
        jieba.add_word(term, 100000)
    search = zhsearch.ChineseSearch.__new__(zhsearch.ChineseSearch)
    search.latin_terms = set()
    search.latin1_letters = zhsearch.ChineseSearch.latin1_letters
    words = search.split("读取作业实例列表")
    assert "作业实例列表" in words
    assert "作业实例" not in words  # jieba alone: the longer word, never the term inside it
    search.terms = terms
    words = search.split("读取作业实例列表")
    assert "作业实例" in words
    assert "定时任务" not in words


def test_the_dictionary_holds_the_glossarys_chinese_words_once(zhsearch, tmp_path) -> None:
    path = zhsearch.write_dictionary(tmp_path / "d" / "terms.txt", ["作业实例", "轮询"])
    assert path.read_text(encoding="utf-8") == "作业实例 100000\n轮询 100000\n"
    words = {w for t in zhsearch.load() for w in t.chinese_terms()}
    assert {"作业实例", "定时任务", "执行方案", "轮询"} <= words
    assert not any(" " in w for w in words)  # (jieba's dictionary: one word a line, no spaces)


def test_a_page_holding_a_search_word_is_indexed_with_it_and_its_parts(zhsearch, jieba) -> None:
    search = zhsearch.ChineseSearch.__new__(zhsearch.ChineseSearch)
    search.latin_terms = set()
    search.latin1_letters = zhsearch.ChineseSearch.latin1_letters
    search.terms = ("失败主机", "轮询间隔")
    words = search.split("统计失败主机数，再调大轮询间隔")
    assert {"失败主机", "失败", "主机", "轮询间隔", "轮询", "间隔"} <= set(words)
    assert {"人工确认", "失败主机", "轮询间隔"} <= zhsearch.search_words()


def test_the_query_splitter_is_sphinxs_splitquery_for_the_chinese_site(zhsearch) -> None:
    # (what it does in a browser: tests/e2e/test_docs_i18n.py)
    assert zhsearch.ChineseSearch.js_splitter_code == zhsearch.SPLITTER
    assert "var splitQuery = (query) =>" in zhsearch.SPLITTER
    assert "\\p{Script=Han}" in zhsearch.SPLITTER
