"""The command line's reference, generated from its argparse parser at every build.

``bkjob-cli`` renders ``bkjob-async --help`` and the ``--help`` of every command (and of each
command's own subcommands) as ``build_parser()`` prints them, one section per command: the page
can never drift from the parser, because it is the parser's own text.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

if TYPE_CHECKING:
    from sphinx.application import Sphinx


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help(parser: argparse.ArgumentParser) -> str:
    # A fixed width, whatever terminal builds the docs: the page is the same everywhere.
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        return parser.format_help()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


class CliDirective(SphinxDirective):
    """``bkjob-cli``: a section per command with its ``--help``, from ``build_parser()``."""

    def run(self) -> list[nodes.Node]:
        from bkjob_async.cli._parser import build_parser

        parser = build_parser()
        found: list[nodes.Node] = [nodes.literal_block(text=_help(parser), language="text")]
        found += self._sections(parser, "bkjob-async")
        return found

    def _sections(self, parser: argparse.ArgumentParser, prefix: str) -> list[nodes.Node]:
        sections: list[nodes.Node] = []
        for name, sub in _subcommands(parser).items():
            title = f"{prefix} {name}"
            section = nodes.section(
                ids=[nodes.make_id(title)], names=[nodes.fully_normalize_name(title)]
            )
            section += nodes.title(text=title)
            section += nodes.literal_block(text=_help(sub), language="text")
            self.state.document.note_implicit_target(section, section)
            sections.append(section)
            sections += self._sections(sub, title)
        return sections


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("bkjob-cli", CliDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
