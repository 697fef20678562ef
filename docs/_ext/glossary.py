"""The Chinese pages' words, held as data: check the translations against them (no Sphinx here).

``docs/locale/<language>/glossary.toml`` names each concept once: this library's English words,
bk-job's Chinese spellings (from its own Chinese API docs and UI), and the spellings that drift.
``python docs/_ext/glossary.py`` (``make docs`` runs it with ``--strict``) reads every catalog of
the language and its README (``README.zh-CN.md``), and reports:

- a drifting spelling: a translation that spells a concept another way than the glossary does
  (``应答`` for a response, ``滚动暂停`` for status 15);
- a term outside the glossary: a message whose English names a concept (``en``) and whose
  translation holds none of its Chinese spellings, or keeps the English word bare (``worker``);
  a translator comment ``# glossary: <why>`` above the entry exempts a message from this rule;
- a glossary page out of date: the tables of ``docs/reference/glossary.md`` are written from the
  data (``--write`` writes them; the check compares).

``docs/_ext/zhsearch.py`` gives the same words to Sphinx's Chinese search.
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
from typing import TYPE_CHECKING

import attrs
from babel.messages.pofile import read_po
from catalogs import _COMMAND, _NOT_PROSE, DOCS, KEEP, UNTRANSLATED

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (tomli: pytest's and mypy's dependency there)
    import tomli as tomllib

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Iterator, Sequence

ROOT = DOCS.parent
PAGE = DOCS / "reference" / "glossary.md"
#: The translator comment of a message exempt from the ``en`` rule.
EXEMPT = "glossary:"
#: Fenced code blocks of a Markdown file (the README): not prose.
_FENCED = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
#: What a README's prose holds that is not prose: HTML comments, images, code, link targets.
_README_NOT_PROSE = re.compile(r"<!--.*?-->|" + _NOT_PROSE.pattern, re.DOTALL)


@attrs.frozen(cache_hash=True)
class Term:
    """One concept: its words here, bk-job's Chinese spellings, the spellings that drift."""

    section: str
    here: str
    zh: tuple[str, ...]
    source: str
    where: str = ""
    en: tuple[str, ...] = ()
    #: English words a translation must not keep bare (the ``en`` words, unless given).
    bare: tuple[str, ...] | None = None
    drift: tuple[str, ...] = ()

    def chinese_terms(self) -> tuple[str, ...]:
        """Return the Chinese words of the concept, without spaces (a search dictionary's)."""
        return tuple(word.replace(" ", "") for word in self.zh if re.search(r"[^\x00-\x7f]", word))

    @functools.cached_property
    def english(self) -> re.Pattern[str] | None:
        """The ``en`` words as a pattern: whole words, any case, plural or -ing forms too."""
        return _words(self.en)

    @functools.cached_property
    def left_english(self) -> re.Pattern[str] | None:
        """The English words a translation must not keep (``bare``, else ``en``)."""
        return _words(self.en if self.bare is None else self.bare)


def _words(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    either = "|".join(
        r"[\s-]+".join(map(re.escape, word.split())) for word in sorted(words, key=len)[::-1]
    )
    return re.compile(rf"(?<![\w/.-])(?:{either})(?:s|es|ing|er|ers)?(?![\w/-])", re.IGNORECASE)


@attrs.frozen
class Section:
    title: str
    columns: tuple[str, ...]


@attrs.frozen
class Problem:
    """One finding: where (a catalog and its message, or a file), and what."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def glossary_file(language: str = "zh_CN") -> pathlib.Path:
    return DOCS / "locale" / language / "glossary.toml"


def load_all(language: str = "zh_CN") -> tuple[list[Section], list[Term]]:
    """Return the glossary's sections and terms, in the file's order."""
    data = tomllib.loads(glossary_file(language).read_text(encoding="utf-8"))
    sections = [Section(s["title"], tuple(s["columns"])) for s in data["section"]]
    terms = []
    for entry in data["term"]:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()}
        terms.append(Term(**fields))
    titles = {s.title for s in sections}
    for term in terms:
        if term.section not in titles:
            raise ValueError(f"{term.here!r}: no section {term.section!r} in the glossary")
    return sections, terms


def search_words(language: str = "zh_CN") -> set[str]:
    """Return the glossary's ``search`` words: compounds a reader types as one (失败主机)."""
    data = tomllib.loads(glossary_file(language).read_text(encoding="utf-8"))
    return set(data.get("search", []))


def load(language: str = "zh_CN") -> list[Term]:
    """Return the glossary's terms."""
    return load_all(language)[1]


#: A quotation in double quotes, with no Chinese in it (bk-job's ESB component "job", an
#: English error message it sends, a column of the command line's output): not prose.
_QUOTED_NAME = re.compile(r'"[^"\u3400-\u9fff]*"|“[^”\u3400-\u9fff]*”')


def _prose(text: str) -> str:
    """Return a message's text without code, link targets, URLs and quotations."""
    return _QUOTED_NAME.sub(" ", _NOT_PROSE.sub(" ", text))


@functools.lru_cache(maxsize=512)
def _others(terms: tuple[Term, ...], term: Term) -> re.Pattern[str] | None:
    """The longer English phrases of the other terms (``cron job``, ``job list``), taken out
    of a message before ``term``'s words are looked for in it (``job``)."""
    phrases = [p for t in terms if t is not term for p in t.en if " " in p or "-" in p]
    return Term("", "", (), "", en=tuple(phrases)).english if phrases else None


def _lower(pattern: re.Pattern[str] | None, text: str) -> re.Match[str] | None:
    """The first word of ``pattern`` in a translation written in lower case: a capitalised
    one there is a name (the class ``Poller``, the product ``Job``), not a word left English."""
    found = pattern.finditer(text) if pattern else ()
    return next((m for m in found if not m[0][0].isupper()), None)


def check_message(terms: Sequence[Term], msgid: str, msgstr: str, *, exempt: bool) -> list[str]:
    """Return what is wrong with one translation, as the glossary sees it: a drifting
    spelling (unless the English quotes it), and unless ``exempt``, a concept of the English
    translated without the glossary's word or left in English."""
    found = []
    said = _prose(msgstr)
    english = _prose(msgid)
    terms = tuple(terms)
    for term in terms:
        for drift in term.drift:
            if drift in said and drift not in msgid:
                found.append(f"{drift!r} drifts: write {' / '.join(term.zh)} ({term.here})")
        if exempt or any(word in msgstr for word in term.zh):
            continue
        bare = _lower(term.left_english, said)
        named = term.english.search(english) if term.english else None
        if not (bare or named):
            continue
        others = _others(terms, term)
        if others is not None:  # (their longer phrases taken out first: "cron job", "job list")
            if bare and term.left_english:
                bare = _lower(term.left_english, others.sub(" ", said))
            if named and term.english:
                named = term.english.search(others.sub(" ", english))
        if bare:
            found.append(f"{bare[0]!r} left in English: write {' / '.join(term.zh)} ({term.here})")
        elif named:
            found.append(
                f"{named[0]!r} is not translated with the glossary's "
                f"{' / '.join(term.zh)} ({term.here})"
            )
    return found


def catalogs(language: str) -> Iterator[pathlib.Path]:
    folder = DOCS / "locale" / language / "LC_MESSAGES"
    for po in sorted(folder.rglob("*.po")):
        if not po.relative_to(folder).as_posix().startswith(UNTRANSLATED):
            yield po


def check_catalog(terms: list[Term], po: pathlib.Path) -> list[Problem]:
    """Return the problems of one catalog's translated messages."""
    with po.open("rb") as f:
        catalog = read_po(f)
    name = po.relative_to(DOCS).as_posix()
    problems = []
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        exempt = bool(_COMMAND.fullmatch(msgid)) or any(
            c.startswith((EXEMPT, KEEP)) for c in message.user_comments
        )
        for string in strings:
            if not string:
                continue
            for what in check_message(terms, msgid, string, exempt=exempt):
                problems.append(Problem(f"{name} {msgid[:50]!r}", what))
    return problems


def readme_of(language: str) -> pathlib.Path:
    return ROOT / f"README.{language.replace('_', '-')}.md"


def check_readme(terms: list[Term], readme: pathlib.Path) -> list[Problem]:
    """Return the drifting and bare-English terms of a translated README, line by line (its
    code blocks aside: their comments are checked as prose would be, in ``catalogs.py``)."""
    text = _FENCED.sub(lambda m: "\n" * m[0].count("\n"), readme.read_text(encoding="utf-8"))
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        prose = _README_NOT_PROSE.sub(" ", line)
        for term in terms:
            for drift in term.drift:
                if drift in prose:
                    problems.append(Problem(f"{readme.name}:{number}", f"{drift!r} drifts"))
            bare = term.left_english.search(prose) if term.left_english else None
            if bare and not any(word in line for word in term.zh):
                problems.append(Problem(f"{readme.name}:{number}", f"{bare[0]!r} left in English"))
    return problems


def tables(sections: list[Section], terms: list[Term]) -> dict[str, str]:
    """Return the Markdown table of each section of the glossary page, by section title."""
    out = {}
    for section in sections:
        rows = [
            "| " + " | ".join(section.columns) + " |",
            "| " + " | ".join("---" for _ in section.columns) + " |",
        ]
        for term in terms:
            if term.section != section.title:
                continue
            cells = [term.here, ", ".join(term.zh), term.where][: len(section.columns)]
            rows.append("| " + " | ".join(cells) + " |")
        out[section.title] = "\n".join(rows) + "\n"
    return out


_TABLE = re.compile(r"(?:^\|.*\n)+", re.MULTILINE)


def written_page(page: str, sections: list[Section], terms: list[Term]) -> str:
    """Return the glossary page with each section's first table written from the data."""
    made = tables(sections, terms)
    parts = re.split(r"(?m)^(## .*\n)", page)
    for i in range(1, len(parts), 2):
        title = parts[i][3:].strip()
        if title in made:
            parts[i + 1], replaced = _TABLE.subn(made.pop(title), parts[i + 1], count=1)
            if not replaced:
                raise ValueError(f"the glossary page's section {title!r} has no table")
    if made:
        raise ValueError(f"the glossary page lacks the sections {sorted(made)}")
    return "".join(parts)


def check_page(sections: list[Section], terms: list[Term], page: pathlib.Path) -> list[Problem]:
    text = page.read_text(encoding="utf-8")
    if written_page(text, sections, terms) != text:
        where = page.relative_to(ROOT).as_posix()
        return [Problem(where, "its tables differ from the glossary (run with --write)")]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", default="zh_CN")
    parser.add_argument("--strict", action="store_true", help="exit 1 on any problem")
    parser.add_argument("--write", action="store_true", help="write the glossary page's tables")
    args = parser.parse_args(argv)
    sections, terms = load_all(args.language)
    if args.write:
        PAGE.write_text(
            written_page(PAGE.read_text(encoding="utf-8"), sections, terms), encoding="utf-8"
        )
    problems = check_page(sections, terms, PAGE)
    for po in catalogs(args.language):
        problems += check_catalog(terms, po)
    if readme_of(args.language).exists():
        problems += check_readme(terms, readme_of(args.language))
    for problem in problems:
        print(f"  {problem}")
    print(f"{args.language}: {len(terms)} glossary terms, {len(problems)} problems")
    if args.strict and problems:
        print(f"{args.language}: the glossary's words are not kept (--strict)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
