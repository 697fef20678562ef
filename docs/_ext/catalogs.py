"""Count the messages of the translated site: translated, fuzzy, untranslated (no Sphinx here).

``python docs/_ext/catalogs.py`` (``make docs`` runs it) reads every catalog under
``docs/locale/<language>/LC_MESSAGES`` and prints, page by page and in total, how many messages
are translated, fuzzy (a translation of an older English text, which Sphinx does not use) and
untranslated, and which pages have no catalog at all. It only reports; ``--strict`` makes any
fuzzy or untranslated message, or a page without a catalog, an error (exit status 1), so that
the two languages cannot drift apart once the count is 0.

The generated API reference (``reference/api/``) has no catalogs: its docstrings stay English.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import attrs
from babel.messages.pofile import read_po

DOCS = pathlib.Path(__file__).resolve().parents[1]
#: Pages that are not translated: generated ones, and what Sphinx never reads.
UNTRANSLATED = ("_build", "_ext", "_templates", "locale", "reference/api")


@attrs.frozen
class Counts:
    """The messages of one catalog (or of several, added up)."""

    translated: int = 0
    fuzzy: int = 0
    untranslated: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.translated + other.translated,
            self.fuzzy + other.fuzzy,
            self.untranslated + other.untranslated,
        )

    @property
    def left(self) -> int:
        """How many messages the translated page shows in English."""
        return self.fuzzy + self.untranslated


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
        elif all(strings):
            counts += Counts(translated=1)
        else:
            counts += Counts(untranslated=1)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", default="zh_CN")
    parser.add_argument("--strict", action="store_true", help="exit 1 unless all is translated")
    parser.add_argument("--quiet", action="store_true", help="print the totals only")
    args = parser.parse_args(argv)
    counts, missing = report(args.language)
    total = sum(counts.values(), Counts())
    if not args.quiet:
        for page, c in counts.items():
            if c.left:
                print(
                    f"  {page}: {c.translated} translated, {c.fuzzy} fuzzy, "
                    f"{c.untranslated} untranslated"
                )
        for page in missing:
            print(f"  {page}: no catalog")
    print(
        f"{args.language}: {total.translated} messages translated, {total.fuzzy} fuzzy, "
        f"{total.untranslated} untranslated; {len(counts)} pages with a catalog, "
        f"{len(missing)} without"
    )
    if args.strict and (total.left or missing):
        print(f"{args.language}: not all translated (--strict)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
