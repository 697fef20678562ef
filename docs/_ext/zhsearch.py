"""Search on the Chinese site: Chinese words in the index (jieba, our terms) and a working stemmer.

Sphinx splits Chinese text into words with jieba (``sphinx.search.zh``); without jieba it
indexes no Chinese word at all. jieba's dictionary lacks most of bk-job's terms (作业实例,
执行方案, 滚动执行 come out as two words each, and a search for the whole term finds
nothing), so the Chinese build hands it a dictionary of its own: every Chinese term of the
glossary (``glossary.toml``, the terms bk-job's own docs use) and its ``search`` words (the
compounds a reader types: 人工确认, 失败主机, 轮询间隔), written to ``_build`` and named in
``html_search_options['dict']`` (``conf.py``), which jieba loads beside its own. Wherever the
text holds one of those words, the page is indexed with it and with the words it is made of
(人工确认, 人工, 确认), whatever jieba made of the sentence around it.

A Chinese reader types a query without spaces (失败主机), and Sphinx's search takes the whole
query as one word: a page indexed with 失败 and 主机 matched nothing. The query is split in
the browser (``SPLITTER``, Sphinx's ``splitQuery`` of ``language_data.js``) the way the index
was: a run of Chinese characters that is not a word of the index is cut into the fewest words
of the index that cover most of it (a character no word covers, 的, is left out, as the index
leaves out every single character). 失败的主机 finds the pages with 失败 and 主机, as
失败 主机 does.

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

import functools
import logging
import pathlib
import re
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from glossary import load, search_words
from sphinx.search import IndexBuilder
from sphinx.search.zh import SearchChinese, cut_for_search

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


#: Sphinx's ``splitQuery`` for the Chinese site (see the module's docstring): Sphinx's own split,
#: then each run of Chinese characters that is not a word of the loaded index cut into words of
#: the index (dynamic programming: fewest characters left uncovered, then fewest words).
SPLITTER = r"""
var splitQuery = (query) => {
  const words = query
    .split(/[^\p{Letter}\p{Number}_\p{Emoji_Presentation}]+/gu)
    .filter((word) => word);
  const index = typeof Search !== "undefined" ? Search._index : null;
  if (!index) return words;
  const known = (word) =>
    Object.hasOwn(index.terms, word) || Object.hasOwn(index.titleterms, word);
  const cut = (run) => {
    if (known(run)) return [run];
    // best[i]: [characters left uncovered, words, the words] for run.slice(0, i)
    const best = [[0, 0, []]];
    for (let i = 1; i <= run.length; i++) {
      const [left, count, taken] = best[i - 1];
      best[i] = [left + 1, count, taken];
      for (let j = Math.max(0, i - 12); j < i - 1; j++) {
        const word = run.slice(j, i);
        const [l, c, t] = best[j];
        if (known(word) && (l < best[i][0] || (l === best[i][0] && c + 1 < best[i][1])))
          best[i] = [l, c + 1, [...t, word]];
      }
    }
    const found = best[run.length][2];
    return found.length ? found : [run];
  };
  return words.flatMap((word) =>
    word
      .split(/(\p{Script=Han}+)/u)
      .filter((part) => part)
      .flatMap((part) => (/\p{Script=Han}/u.test(part) ? cut(part) : [part])),
  );
};
"""


class ChineseSearch(SearchChinese):
    """Sphinx's Chinese search, with each glossary term inside a longer word indexed too."""

    js_splitter_code = SPLITTER
    #: The glossary's Chinese terms and search words (``_configure`` sets them).
    terms: tuple[str, ...] = ()

    def split(self, input: str) -> list[str]:
        """Split as Sphinx does, then add each term the text holds, with its parts: jieba
        keeps 作业实例列表 one word, and the search finds a word inside another only when no
        page has it alone (searchtools.js), so a search for 作业实例 would miss that page; and
        a query cut into 失败 主机 must find the page that says 失败主机."""
        words = super().split(input)
        held = [term for term in self.terms if term in input]
        return words + [part for term in held for part in _parts(term)]


@functools.lru_cache(maxsize=4096)
def _parts(term: str) -> tuple[str, ...]:
    """Return ``term`` and the words jieba's search cut makes of it (人工确认: 人工, 确认)."""
    return (term, *(word for word in cut_for_search(term) if word != term))


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
    words = sorted({term for entry in load() for term in entry.chinese_terms()} | search_words())
    ChineseSearch.terms = tuple(words)
    dictionary = write_dictionary(pathlib.Path(app.doctreedir) / "jieba-terms.txt", words)
    config.html_search_options = {"dict": str(dictionary), **(config.html_search_options or {})}


def setup(app: Sphinx) -> dict[str, Any]:
    fixed = _fixed(_stock_code())  # (Sphinx 9.0 to 9.0.4 at least: sphinx-doc/sphinx#14229)
    app.add_search_language(ChineseSearch if fixed is None else _with_stemmer(fixed))
    app.connect("config-inited", _configure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
