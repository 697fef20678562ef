"""Issue 89's counts of the Chinese site, page by page: long sentences, 「：」「；」, 它, 一个, calques.

``python docs/_ext/grade.py`` prints one row a page (the catalogs' ``msgstr`` and
``README.zh-CN.md``, as ``prose.py`` reads them) and the site's total; ``--only`` keeps the pages
named. It counts and judges nothing: ``prose.py`` holds the rules.
"""

from __future__ import annotations

import argparse
import re
import sys

import attrs
from babel.messages.pofile import read_po
from prose import _CALQUE, ROOT, catalogs, zh_sentences

LIMITS = (80, 120, 200)


@attrs.define
class Row:
    """One page's counts."""

    name: str
    sentences: int = 0
    chars: int = 0
    over: list[int] = attrs.Factory(lambda: [0] * len(LIMITS))
    colons: int = 0
    semicolons: int = 0
    it: int = 0
    one: int = 0
    calques: int = 0

    def add(self, text: str) -> None:
        for sentence in zh_sentences(text):
            self.sentences += 1
            for i, limit in enumerate(LIMITS):
                self.over[i] += len(sentence) > limit
        self.chars += len(re.sub(r"\s+", "", text))
        self.colons += text.count("：")
        self.semicolons += text.count("；")
        self.it += text.count("它")
        self.one += text.count("一个")
        self.calques += len(_CALQUE.findall(text))

    def cells(self) -> list[str]:
        counts = [self.sentences, *self.over, self.chars, self.colons, self.semicolons]
        return [self.name, *map(str, [*counts, self.it, self.one, self.calques])]


def rows(language: str = "zh_CN") -> list[Row]:
    """Return every translated page's counts, the README's last."""
    found = []
    for name, po in catalogs(language):
        row = Row(name)
        with po.open("rb") as f:
            for message in read_po(f):
                if message.id and not message.fuzzy and message.string:
                    row.add(str(message.string))
        found.append(row)
    readme = ROOT / f"README.{language.replace('_', '-')}.md"
    if readme.exists():
        row = Row("README")
        text = re.sub(r"(?ms)^```.*?^```", "", readme.read_text(encoding="utf-8"))
        for paragraph in re.split(r"\n\s*\n", re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)):
            row.add(" ".join(paragraph.split()))
        found.append(row)
    return found


HEADER = [
    "page",
    "sentences",
    *(f">{n}" for n in LIMITS),
    "chars",
    "：",
    "；",
    "它",
    "一个",
    "calques",
]


def table(found: list[Row], only: list[str] | None = None) -> str:
    """Return the rows (those of ``only``, if given) and the site's total as a Markdown table."""
    total = Row("total")
    for row in found:
        total.sentences += row.sentences
        total.chars += row.chars
        total.over = [a + b for a, b in zip(total.over, row.over, strict=True)]
        for field in ("colons", "semicolons", "it", "one", "calques"):
            setattr(total, field, getattr(total, field) + getattr(row, field))
    shown = [row for row in found if not only or row.name in only]
    lines = [HEADER, ["---"] * len(HEADER)] + [row.cells() for row in [*shown, total]]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", default="zh_CN")
    parser.add_argument("--only", nargs="*", help="the pages to list (the total stays the site's)")
    args = parser.parse_args(argv)
    print(table(rows(args.language), args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
