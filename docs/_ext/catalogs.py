"""Count the messages of the translated site: translated, fuzzy, untranslated (no Sphinx here).

``python docs/_ext/catalogs.py`` (``make docs`` runs it) reads every catalog under
``docs/locale/<language>/LC_MESSAGES`` and prints, page by page and in total, how many messages
are translated, fuzzy (a translation of an older English text, which Sphinx does not use),
untranslated, or "translated" but still English, and which pages have no catalog at all.
``--strict`` (``make docs``) makes any of those an error (exit status 1), so that the two
languages cannot drift apart.

Still English: a message whose English has words of prose (not code, a link, a URL, a name
such as ``TencentBlueKing/bk-job`` or ``jobv3``, nor a word that reads the same in Chinese text,
such as ``bool`` or ``ms``) and whose translation has not one Chinese character, a copy of the
English included. Some stay English on purpose (the glossary's column of our own words, a
product's name): a translator comment ``# English on purpose: <why>`` above the entry says so,
and the count reports them as kept. The command line's words stay English (issue 52), so a
message that is only a command (``bkjob-async cluster status``) needs no comment.
What the count cannot see, a page changed since its catalog was updated or a translation Sphinx
drops, the zh_CN build itself warns of (``_ext/untranslated.py``).

The generated API reference (``reference/api/``) has no catalogs: its docstrings stay English.

``--review REF`` (``make docs-review``) prints what a Chinese reader should read in a change:
every message of the working tree's catalogs that is new since the git revision ``REF``
(``main`` by default), or whose translation changed, with its English and its Chinese, page by
page.
"""

from __future__ import annotations

import argparse
import io
import pathlib
import re
import subprocess
import sys

import attrs
from babel.messages.pofile import read_po

DOCS = pathlib.Path(__file__).resolve().parents[1]
#: Pages that are not translated: generated ones, and what Sphinx never reads.
UNTRANSLATED = ("_build", "_ext", "_templates", "locale", "reference/api")
#: What carries no prose: code (``x``, `x`, a role's `x`), a link's target, a URL, {braces}.
_NOT_PROSE = re.compile(
    r"``.+?``|:[\w:-]+:`[^`]*`|`[^`]*`|\]\([^)]*\)|<?https?://[^\s>]*>?|\{[^}]*\}"
)
#: A word of prose: letters, all lower case after the first, not part of a path or a name.
_WORD = re.compile(r"(?<![\w./\\-])[A-Za-z][a-z]+(?![\w./\\-])")
#: Words that read the same in a Chinese text: types, literals, units.
SAME_WORDS = frozenset({"bool", "int", "long", "string", "float", "null", "true", "false", "ms"})
#: A message that is a command of the command line, whose words stay English.
_COMMAND = re.compile(r"bkjob-async(?: [a-z][a-z-]*)*")
#: The translator comment of a message kept in English on purpose.
KEEP = "English on purpose:"
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def prose(text: str) -> list[str]:
    """Return the words of prose in an English message (what a translation must not keep)."""
    words = _WORD.findall(_NOT_PROSE.sub(" ", text))
    return [word for word in words if word not in SAME_WORDS]


def still_english(msgid: str, msgstr: str) -> bool:
    """Whether a translation leaves prose English: words to translate, not one Chinese one."""
    return bool(prose(msgid)) and not _COMMAND.fullmatch(msgid) and not _HAN.search(msgstr)


@attrs.frozen
class Counts:
    """The messages of one catalog (or of several, added up)."""

    translated: int = 0
    fuzzy: int = 0
    untranslated: int = 0
    #: A translation that is still English (see ``still_english``), no comment saying why.
    english: int = 0
    #: Translated messages kept in English on purpose (a translator comment says why).
    kept: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.translated + other.translated,
            self.fuzzy + other.fuzzy,
            self.untranslated + other.untranslated,
            self.english + other.english,
            self.kept + other.kept,
        )

    @property
    def left(self) -> int:
        """How many messages the translated page shows in English (not on purpose)."""
        return self.fuzzy + self.untranslated + self.english


def count(po: pathlib.Path) -> Counts:
    """Count the messages of one ``.po`` file (obsolete ``#~`` entries are not messages)."""
    with po.open("rb") as f:
        catalog = read_po(f)
    counts = Counts()
    for message in catalog:
        if not message.id:
            continue  # the header
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            counts += Counts(fuzzy=1)
        elif not all(strings):
            counts += Counts(untranslated=1)
        elif not any(still_english(message.id, string) for string in strings):
            counts += Counts(translated=1)
        elif any(comment.startswith(KEEP) for comment in message.user_comments):
            counts += Counts(translated=1, kept=1)
        else:
            counts += Counts(english=1)
    return counts


def pages(docs: pathlib.Path = DOCS) -> list[str]:
    """Return the pages that should have a catalog, as ``howto/census`` (no suffix)."""
    found = []
    for path in sorted(docs.rglob("*.md")):
        relative = path.relative_to(docs).with_suffix("").as_posix()
        if not relative.startswith(UNTRANSLATED):
            found.append(relative)
    return found


def report(language: str, docs: pathlib.Path = DOCS) -> tuple[dict[str, Counts], list[str]]:
    """Return the counts of each page's catalog, and the pages that have none."""
    folder = docs / "locale" / language / "LC_MESSAGES"
    counts, missing = {}, []
    for page in pages(docs):
        po = folder / f"{page}.po"
        if po.exists():
            counts[page] = count(po)
        else:
            missing.append(page)
    return counts, missing


def _messages(data: bytes) -> dict[str, str]:
    """Return the translated messages of a catalog's text: English -> Chinese."""
    found = {}
    for message in read_po(io.BytesIO(data)):
        if message.id and not message.fuzzy:
            msgid = message.id if isinstance(message.id, str) else message.id[0]
            string = message.string if isinstance(message.string, str) else message.string[0]
            found[msgid] = string
    return found


def review(language: str, ref: str, docs: pathlib.Path = DOCS) -> dict[str, list[tuple[str, str]]]:
    """Return, page by page, the messages (English, Chinese) new or retranslated since the git
    revision ``ref``: what a reviewer of the change reads."""
    folder = docs / "locale" / language / "LC_MESSAGES"
    root = pathlib.Path(
        subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=docs, capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    changed: dict[str, list[tuple[str, str]]] = {}
    for po in sorted(folder.rglob("*.po")):
        path = po.resolve().relative_to(root.resolve()).as_posix()
        before = subprocess.run(
            ["git", "show", f"{ref}:{path}"], cwd=root, capture_output=True, check=False
        )
        old = _messages(before.stdout) if before.returncode == 0 else {}
        new = _messages(po.read_bytes())
        rows = [(en, zh) for en, zh in new.items() if old.get(en) != zh]
        if rows:
            changed[po.relative_to(folder).with_suffix("").as_posix()] = rows
    return changed


def print_review(language: str, ref: str) -> None:
    changed = review(language, ref)
    for page, rows in changed.items():
        print(f"## {page} ({len(rows)})\n")
        for english, chinese in rows:
            print(f"EN: {english}\n{language}: {chinese}\n")
    total = sum(len(rows) for rows in changed.values())
    print(f"{language}: {total} messages new or retranslated since {ref}, on {len(changed)} pages")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", default="zh_CN")
    parser.add_argument("--strict", action="store_true", help="exit 1 unless all is translated")
    parser.add_argument("--quiet", action="store_true", help="print the totals only")
    parser.add_argument(
        "--review",
        metavar="REF",
        help="print the messages new or retranslated since the git revision REF, to review",
    )
    args = parser.parse_args(argv)
    if args.review:
        print_review(args.language, args.review)
        return 0
    counts, missing = report(args.language)
    total = sum(counts.values(), Counts())
    if not args.quiet:
        for page, c in counts.items():
            if c.left:
                print(
                    f"  {page}: {c.translated} translated, {c.fuzzy} fuzzy, "
                    f"{c.untranslated} untranslated, {c.english} still English"
                )
        for page in missing:
            print(f"  {page}: no catalog")
    print(
        f"{args.language}: {total.translated} messages translated, {total.fuzzy} fuzzy, "
        f"{total.untranslated} untranslated, {total.english} still English "
        f"({total.kept} kept English on purpose); {len(counts)} pages with a catalog, "
        f"{len(missing)} without"
    )
    if args.strict and (total.left or missing):
        print(f"{args.language}: not all translated (--strict)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
