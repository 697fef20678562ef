"""Search on the Chinese site: Chinese words in the index (jieba, our terms) and a working stemmer.

Sphinx splits Chinese text into words with jieba (``sphinx.search.zh``); without jieba it
indexes no Chinese word at all. jieba's dictionary lacks most of bk-job's terms (作业实例,
执行方案, 滚动执行 come out as two words each, and a search for the whole term finds
nothing), so the Chinese build hands it a dictionary of its own: every Chinese term of the
glossary (``glossary.toml``, the terms bk-job's own docs use), written to ``_build`` and named
in ``html_search_options['dict']`` (``conf.py``), which jieba loads beside its own; and a
longer word that holds a term (作业实例列表) is indexed with the term too.

Sphinx 9.0 (up to 9.0.4, the newest release when this was written) breaks Chinese search in
the browser: ``language_data.js`` ends with ``window.Stemmer = ChineseStemmer;`` while the
stemmer it ships for Chinese is English's (``EnglishStemmer``), so every search stops at
``ReferenceError: ChineseStemmer is not defined`` (sphinx-doc/sphinx#14229). The fix, PR
#14416, names the class the stemmer's script defines (``EnglishStemmer``), as below. It is
carried only while the Sphinx installed still makes the broken line (``_fixed``); drop it, and
this paragraph, once the lowest Sphinx that pyproject.toml allows has the fix (a release after
9.0.4).
"""

from __future__ import annotations

import logging
import pathlib
import re
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from glossary import load
from sphinx.search import IndexBuilder
from sphinx.search.zh import SearchChinese

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.config import Config

#: ``window.Stemmer = XStemmer;``: the class Sphinx's language data hands the search.
_ASSIGNED = re.compile(r"window\.Stemmer = (\w+);\s*$")


def _stock_code() -> str:
    """Return the stemmer script Sphinx's own Chinese search puts in ``language_data.js``."""
    probe = SimpleNamespace(lang=SearchChinese.__new__(SearchChinese))
    return str(IndexBuilder.get_js_stemmer_code(probe))  # type: ignore[arg-type]


def _fixed(code: str) -> str | None:
    """Return ``code`` with its last line naming the class its script defines (``var
    EnglishStemmer=``), as Sphinx's fix does; ``None`` when it names that class already."""
    assigned = _ASSIGNED.search(code)
    defined = re.findall(r"\bvar (\w+Stemmer)\s*=", code)
    if assigned is None or not defined or assigned[1] in defined:
        return None
    return code[: assigned.start()] + f"window.Stemmer = {defined[-1]};"


class ChineseSearch(SearchChinese):
    """Sphinx's Chinese search, with each glossary term inside a longer word indexed too."""

    #: The glossary's Chinese terms (``_configure`` sets them).
    terms: tuple[str, ...] = ()

    def split(self, input: str) -> list[str]:
        """Split as Sphinx does, then add each term a longer word holds: jieba keeps
        作业实例列表 one word, and the search finds a word inside another only when no page
        has it alone (searchtools.js), so a search for 作业实例 would miss that page."""
        words = super().split(input)
        return words + [t for w in words if len(w) > 2 for t in self.terms if t in w and t != w]


def _with_stemmer(code: str) -> type[ChineseSearch]:
    class FixedChineseSearch(ChineseSearch):
        """The search above, its stemmer's class named as its script defines it."""

        js_stemmer_rawcode = ""  # (Sphinx then takes js_stemmer_code as it is)
        js_stemmer_code = code

    return FixedChineseSearch


def write_dictionary(path: pathlib.Path, words: list[str]) -> pathlib.Path:
    """Write jieba's dictionary of our terms (one a line, ``word frequency``) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{word} 100000\n" for word in words)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def _configure(app: Sphinx, config: Config) -> None:
    if not (config.language or "").startswith("zh"):
        return
    logging.getLogger("jieba").setLevel(logging.WARNING)  # (its dictionary's load, every build)
    words = sorted({term for entry in load() for term in entry.chinese_terms()})
    ChineseSearch.terms = tuple(words)
    dictionary = write_dictionary(pathlib.Path(app.doctreedir) / "jieba-terms.txt", words)
    config.html_search_options = {"dict": str(dictionary), **(config.html_search_options or {})}


def setup(app: Sphinx) -> dict[str, Any]:
    fixed = _fixed(_stock_code())  # (Sphinx 9.0 to 9.0.4 at least: sphinx-doc/sphinx#14229)
    app.add_search_language(ChineseSearch if fixed is None else _with_stemmer(fixed))
    app.connect("config-inited", _configure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
