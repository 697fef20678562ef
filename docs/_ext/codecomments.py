"""The comments of a page's code are messages of its catalog: a translated page shows them translated.

Sphinx translates no code block (a code block is not a message unless
``gettext_additional_targets`` has ``literal-block``, and then the whole block is one message,
its code copied into every catalog). Here only the comments are messages: each ``# comment``
of a Python or shell block (``# noqa``-like pragmas aside), one message each, in the page's
catalog beside its prose. A translated build puts each translation back in place of its
comment and changes nothing else, so the code of a Chinese page is the English page's, byte
for byte but for its comments, and runs as the docs' tests run the English one.

A block with comments becomes a ``commented_code`` node before Sphinx's ``Locale`` transform:
a literal block that is also ``addnodes.translatable``, which is how Sphinx extracts (the
gettext builder) and applies (``Locale``) messages that are not paragraphs. It is drawn as any
literal block. A comment the catalog does not translate is a warning of the translated build
(``untranslated.py``).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from typing import TYPE_CHECKING, Any

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms import SphinxTransform

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sphinx.application import Sphinx
    from sphinx.writers.html5 import HTML5Translator

#: The languages whose comments start with ``#`` (a ``text`` block: commands, or output, whose
#: comments are read as a shell's).
LANGUAGES = frozenset({"python", "py", "python3", "sh", "bash", "shell", "console", "text"})
#: Comments that are instructions to a tool, not words to a reader.
_PRAGMA = re.compile(r"(noqa|type:|fmt:|pragma|pylint:|mypy:|ruff:)", re.IGNORECASE)
#: Two words of prose in a row: a comment without them (``# 127.0.0.1:8000``, ``# tasks.py``,
#: ``# request.state.bkjob``, output such as ``# bkjob get_job_instance_status {...``) is not a
#: message. Quoted text is left out first (a URL, a dictionary's keys).
_PROSE = re.compile(r"(?<![\w.])[A-Za-z]+ [A-Za-z][A-Za-z0-9]*(?![\w.(])")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


#: What code has and prose that happens to parse (``two, left in English``) has not.
_CODE_NODES = (
    ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Call, ast.Attribute, ast.Subscript,
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Return, ast.Import,
    ast.ImportFrom, ast.With, ast.AsyncWith, ast.For, ast.Await, ast.Dict, ast.Lambda,
)  # fmt: skip


def _is_code(text: str) -> bool:
    """Whether a comment is code commented out (a statement, a ``def``, a ``return``)."""
    for wrapped in (text, text + "\n    pass", "def _():\n    " + text):
        try:
            tree = ast.parse(wrapped)
        except SyntaxError:
            continue
        return any(isinstance(node, _CODE_NODES) for node in ast.walk(tree))
    return False


def is_message(text: str) -> bool:
    """Whether a comment's text is words to a reader, to translate."""
    text = text.strip()
    if _PRAGMA.match(text) or not _PROSE.search(_QUOTED.sub(" ", text)):
        return False
    return not _is_code(text)


def _python_comments(code: str) -> Iterator[tuple[int, int, str]]:
    """Yield each comment of Python code: its line (0-based), column, and text after ``#``."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.COMMENT:
                yield token.start[0] - 1, token.start[1], token.string[1:]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return


def _shell_comments(code: str) -> Iterator[tuple[int, int, str]]:
    """Yield each comment of shell code: a ``#`` at a word's start, outside quotes."""
    for number, line in enumerate(code.splitlines()):
        quote = ""
        for column, char in enumerate(line):
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "#" and (column == 0 or line[column - 1].isspace()):
                if not line.startswith("#!"):
                    yield number, column, line[column + 1 :]
                break


def every_comment(code: str, language: str) -> Iterator[tuple[int, int, str]]:
    """Yield every comment of a block: (line, column of ``#``, text after it)."""
    return _python_comments(code) if language.startswith("py") else _shell_comments(code)


def comments(code: str, language: str) -> list[tuple[int, int, str]]:
    """Return the comments of a block to translate: (line, column of ``#``, message)."""
    found = every_comment(code, language)
    return [(line, column, text.strip()) for line, column, text in found if is_message(text)]


def replaced(code: str, language: str, translations: dict[str, str]) -> str:
    """Return ``code`` with each comment whose message ``translations`` has translated."""
    lines = code.split("\n")
    for line, column, message in comments(code, language):
        if message in translations:
            text = lines[line]
            lines[line] = text[:column] + "# " + translations[message]
    return "\n".join(lines)


class commented_code(nodes.literal_block, addnodes.translatable):
    """A code block whose comments are messages of the page's catalog."""

    def _comments(self) -> list[str]:
        return [m for _, _, m in comments(self.rawsource, self.get("language", ""))]

    def preserve_original_messages(self) -> None:
        self["original_code"] = self.rawsource
        self.setdefault("translations", {})

    def extract_original_messages(self) -> Sequence[str]:
        original = self.get("original_code", self.rawsource)
        return list(dict.fromkeys(m for _, _, m in comments(original, self["language"])))

    def apply_translated_message(self, original_message: str, translated_message: str) -> None:
        self.setdefault("translations", {})[original_message] = translated_message
        code = replaced(self["original_code"], self["language"], self["translations"])
        self.rawsource = code
        self.children = [nodes.Text(code)]

    def untranslated(self) -> list[str]:
        """Return the comments the catalog left in the source language."""
        done = self.get("translations", {})
        return [m for m in self.extract_original_messages() if m not in done]


class CommentedCode(SphinxTransform):
    """Make each code block with comments a ``commented_code`` node (before ``Locale``)."""

    default_priority = 5  # (before PreserveTranslatableMessages, 10, and Locale, 20)

    def apply(self, **kwargs: Any) -> None:
        for block in list(self.document.findall(nodes.literal_block)):
            language = block.get("language", "")
            if type(block) is not nodes.literal_block or language not in LANGUAGES:
                continue
            if block.rawsource != block.astext() or not comments(block.rawsource, language):
                continue  # (a parsed literal, or no comment to translate)
            node = commented_code(block.rawsource, *block.children, **block.attributes)
            node.source, node.line = block.source, block.line
            block.replace_self(node)


def _visit(self: HTML5Translator, node: commented_code) -> None:
    self.visit_literal_block(node)


def _depart(self: HTML5Translator, node: commented_code) -> None:
    self.depart_literal_block(node)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_node(commented_code, html=(_visit, _depart))
    app.add_transform(CommentedCode)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
