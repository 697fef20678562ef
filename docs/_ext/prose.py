"""How the pages read: sentence length, calques, Chinese punctuation (no Sphinx in the checks).

Issue 89's rules, in both languages, read from the catalogs (``msgid``: the English of every
page; ``msgstr``: its Chinese) and from ``README.zh-CN.md``:

- no English sentence over 45 words (``EN_WORDS``);
- no Chinese sentence over 120 characters, at most 3% of the site's over 80 (``ZH_LONG``,
  ``ZH_SHARE``); a sentence ends at 。！？, its length counted without spaces and markup;
- no calque (``CALQUES``: 从不, 信封, 读作, 纪元毫秒, 每作业小时, 「少 N 倍」);
- no half-width ``, ; : ! ?`` or sentence-ending ``.`` beside a Chinese character, outside code;
- the glossary page in both columns: on a translated page, each term's first cell (our English
  words, ``here`` in ``glossary.toml``) shows the Chinese words (the English goes second).

``python docs/_ext/prose.py`` reports every finding and the counts, page by page. The build
(``setup``: the English build checks the English, the Chinese build the Chinese) warns of each
finding on the pages of ``STRICT`` (the pages issue 89 rewrote), so the strict ``make docs``
fails on it; the findings of the other pages are counted, in one line, not warned of.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING, Any

import attrs
from babel.messages.pofile import read_po
from catalogs import _NOT_PROSE, DOCS, UNTRANSLATED

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Iterator

    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

ROOT = DOCS.parent
EN_WORDS = 45
ZH_LONG = 80
ZH_TOO_LONG = 120
ZH_SHARE = 0.03
#: Calques of English in Chinese, and what a Chinese engineer writes instead.
CALQUES = {
    "从不": "不会, 绝不",
    "信封": "外层结构, 响应的外层字段",
    "读作": "表示, 即",
    "纪元毫秒": "毫秒时间戳",
    "每作业小时": "每个作业每小时",
    "少 N 倍": "仅为其 1/N",
}
_CALQUE = re.compile(r"从不|信封|读作|纪元毫秒|每作业小时|少\s*[\d.]+\s*倍")
_HAN = r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
_HALF_WIDTH = re.compile(rf"{_HAN}[,;:!?]|[,;:!?]{_HAN}|{_HAN}\.(?=\s|$)")
#: The pages rewritten for issue 89, whose findings fail the build; every other page's are
#: counted, in one line, and not warned of (a page another change adds, too). Add a page here
#: once it passes (``python docs/_ext/prose.py`` lists its findings); ``README`` is
#: ``README.zh-CN.md``.
STRICT = frozenset(
    {
        "README",
        "explanation/api-generations",
        "explanation/architecture",
        "explanation/delivery",
        "explanation/event-ids",
        "explanation/execute-objects",
        "explanation/faults",
        "explanation/polling",
        "explanation/safety",
        "explanation/security",
        "howto/application-lifetime",
        "howto/callbacks",
        "howto/celery",
        "howto/census",
        "howto/cluster",
        "howto/cluster-operations",
        "howto/command-line",
        "howto/containers",
        "howto/dashboard",
        "howto/develop",
        "howto/django",
        "howto/durable-watches",
        "howto/json-models",
        "howto/launch-and-watch",
        "howto/logging",
        "howto/metrics",
        "howto/migrate-from-the-official-sdk",
        "howto/one-shot-checks",
        "howto/operations-and-retries",
        "howto/per-user-calls",
        "howto/redis-deployments",
        "howto/results-from-logs",
        "howto/rollouts",
        "howto/scripts-and-rules",
        "howto/sdk-shaped-calls",
        "howto/testing",
        "howto/testing-with-the-plugin",
        "howto/tls-and-proxies",
        "howto/tracing",
        "index",
        "performance",
        "reference/bkjob-api",
        "reference/bkjob-api-list",
        "reference/cli",
        "reference/configuration",
        "reference/endpoints",
        "reference/glossary",
        "reference/index",
        "tutorial",
    }
)
_MARKUP = re.compile(r"\*+|\\")


def _plain(text: str) -> str:
    """Return a message as a reader reads it: code kept as its text, link targets, URLs and
    emphasis marks out."""
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"<?https?://[^\s>]*>?", "URL", text)
    text = re.sub(r":[\w:-]+:`([^`]*)`", r"\1", text)
    text = re.sub(r"``(.+?)``|`([^`]*)`", lambda m: m[1] or m[2] or "", text)
    return _MARKUP.sub("", text).replace("[", "").replace("]", "")


def zh_sentences(text: str) -> list[str]:
    """Return the Chinese sentences of a message, without spaces (as their length counts)."""
    parts = re.split(r"(?<=[。！？])", _plain(text))
    return [s for s in (re.sub(r"\s+", "", p) for p in parts) if re.search(_HAN, s)]


#: Where a full stop does not end a sentence.
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.")


def en_sentences(text: str) -> list[str]:
    """Return the English sentences of a message (a stop, then a space, ends one)."""
    sentences: list[str] = []
    for part in re.split(r"(?<=[.!?])\s+", " ".join(_plain(text).split())):
        if sentences and sentences[-1].endswith(_ABBREVIATIONS):
            sentences[-1] += " " + part
        elif part:
            sentences.append(part)
    return sentences


def words(sentence: str) -> int:
    return len(re.findall(r"[A-Za-z0-9][\w'’./-]*", sentence))


@attrs.define
class Page:
    """One page's sentences and findings."""

    name: str
    sentences: int = 0
    long: list[str] = attrs.Factory(list)
    findings: list[str] = attrs.Factory(list)


def share(pages: list[Page]) -> str | None:
    """Return what is wrong with the pages' long sentences together: over ``ZH_SHARE``."""
    sentences = sum(page.sentences for page in pages)
    long = [(page.name, sentence) for page in pages for sentence in page.long]
    if len(long) <= ZH_SHARE * sentences:
        return None
    listed = "; ".join(f"{name}: {sentence[:30]!r}" for name, sentence in long[:5])
    return (
        f"{len(long)} of {sentences} sentences over {ZH_LONG} characters "
        f"(at most {ZH_SHARE:.0%}): {listed}..."
    )


def check_english(page: Page, text: str) -> None:
    for sentence in en_sentences(text):
        page.sentences += 1
        if words(sentence) > EN_WORDS:
            page.findings.append(f"{words(sentence)} words: {sentence[:60]!r}...")


def check_chinese(page: Page, text: str) -> None:
    for calque in _CALQUE.finditer(text):
        key = "少 N 倍" if calque[0].startswith("少") else calque[0]
        page.findings.append(f"calque {calque[0]!r}: write {CALQUES[key]}")
    for mark in _HALF_WIDTH.finditer(_NOT_PROSE.sub(" ", text)):
        page.findings.append(f"half-width {mark[0]!r} in Chinese: full width (，；：！？。)")
    for sentence in zh_sentences(text):
        page.sentences += 1
        if len(sentence) > ZH_TOO_LONG:
            page.findings.append(f"{len(sentence)} characters: {sentence[:40]!r}...")
        elif len(sentence) > ZH_LONG:
            page.long.append(sentence)


GLOSSARY = "reference/glossary"


def check_glossary(page: Page, translations: dict[str, str], language: str) -> None:
    """Find each glossary term whose first cell the translated page leaves without Chinese."""
    from glossary import load

    for term in load(language):
        cell = translations.get(term.here, "")
        if not re.search(_HAN, cell):
            page.findings.append(f"the glossary's first column is not Chinese: {term.here!r}")


def catalogs(language: str) -> Iterator[tuple[str, pathlib.Path]]:
    folder = DOCS / "locale" / language / "LC_MESSAGES"
    for po in sorted(folder.rglob("*.po")):
        name = po.relative_to(folder).with_suffix("").as_posix()
        if name != "sphinx" and not name.startswith(UNTRANSLATED):
            yield name, po


def check(language: str) -> list[Page]:
    """Return every page's sentences and findings: the English (``en``) or a translation."""
    pages = []
    for name, po in catalogs("zh_CN" if language == "en" else language):
        page = Page(name)
        translations = {}
        with po.open("rb") as f:
            for message in read_po(f):
                if not message.id or message.fuzzy:
                    continue
                translations[str(message.id)] = str(message.string)
                if language == "en":
                    check_english(page, str(message.id))
                elif message.string:
                    check_chinese(page, str(message.string))
        if name == GLOSSARY and language != "en":
            check_glossary(page, translations, language)
        pages.append(page)
    readme = ROOT / f"README.{language.replace('_', '-')}.md"
    if language != "en" and readme.exists():
        page = Page("README")
        text = re.sub(r"(?ms)^```.*?^```", "", readme.read_text(encoding="utf-8"))
        text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
        for paragraph in re.split(r"\n\s*\n", text):
            check_chinese(page, " ".join(paragraph.split()))
        pages.append(page)
    return pages


def findings(language: str) -> tuple[list[str], list[str]]:
    """Return the findings that fail the build (``STRICT`` pages), and the others'."""
    pages = check(language)
    failing: list[str] = []
    waiting: list[str] = []
    for page in pages:
        (failing if page.name in STRICT else waiting).extend(
            f"{page.name}: {what}" for what in page.findings
        )
    for rewritten, out in ((False, waiting), (True, failing)):
        too_many = share([page for page in pages if (page.name in STRICT) == rewritten])
        if too_many:
            out.append(too_many)
    return failing, waiting


def report(language: str, *, quiet: bool = False) -> int:
    """Print the findings and counts; return how many fail the build."""
    failing, waiting = findings(language)
    for what in [] if quiet else failing + [f"(not strict) {w}" for w in waiting]:
        print(f"  {what}")
    print(f"{language}: {len(failing)} findings, {len(waiting)} on pages not checked strictly")
    return len(failing)


def _check_build(app: Sphinx, env: BuildEnvironment) -> None:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    language = app.config.language or "en"
    if language != "en" and not (DOCS / "locale" / language).is_dir():
        return
    failing, waiting = findings(language)
    for what in failing:
        logger.warning("%s", what, type="prose", subtype=language)
    if waiting:
        logger.info("prose (%s): %d findings on pages not checked strictly", language, len(waiting))


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("env-check-consistency", _check_build)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", action="append", help="en, zh_CN (default: both)")
    parser.add_argument("--quiet", action="store_true", help="the counts only")
    args = parser.parse_args(argv)
    failing = sum(report(lang, quiet=args.quiet) for lang in args.language or ["en", "zh_CN"])
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
