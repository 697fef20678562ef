"""The table of every typed API, generated from the endpoint table at every build.

``bkjob-endpoints`` renders one line per row of ``bkjob_async._protocol.TABLE``: the client's
method, the HTTP method on each flavor that serves it (ESB v2: its name there), whether it is a
read (retried) or a write, and bk-job's Java resources (the row's ``resource``). A new row is on
the page at the next build, in both languages, with no edit of the page or of its catalog: the
cells are names and the table's few words, translated here (``WORDS``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

if TYPE_CHECKING:
    from sphinx.application import Sphinx

HEADER = (
    "API (client method)",
    "gateway v3",
    "ESB jobv3",
    "ESB v2",
    "gateway v4",
    "read or write",
    "bk-job's resource",
)
READ, WRITE, NONE = "read (retried)", "write (never retried)", "—"
#: The table's words in each language of the site (as its catalog translated them before).
WORDS: dict[str, dict[str, str]] = {
    "zh_CN": {
        "API (client method)": "API（客户端方法）",
        "gateway v3": "网关 v3",
        "gateway v4": "网关 v4",
        "read or write": "读或写",
        "bk-job's resource": "bk-job 的资源",
        READ: "读（会重试）",
        WRITE: "写（不重试）",
    }
}


def rows() -> list[tuple[str, ...]]:
    """Return the table's lines, one per row, as Markdown cells (names in backticks)."""
    from bkjob_async import ApiFlavor
    from bkjob_async._protocol import TABLE

    lines = []
    for name, row in TABLE.items():
        wires = row.bindings
        v2 = wires.get(ApiFlavor.ESB_V2)
        lines.append(
            (
                f"`{name}`",
                *(
                    wires[flavor].method if flavor in wires else NONE
                    for flavor in (ApiFlavor.APIGW_V3, ApiFlavor.ESB_JOBV3)
                ),
                NONE if v2 is None else f"`{v2.name}`",
                wires[ApiFlavor.APIGW_V4].method if ApiFlavor.APIGW_V4 in wires else NONE,
                READ if row.read else WRITE,
                row.resource,
            )
        )
    return lines


def _cell(text: str, words: dict[str, str]) -> nodes.entry:
    """Return a cell: ``text`` in this language, its backticked names as code."""
    paragraph = nodes.paragraph()
    for i, part in enumerate(re.split(r"`([^`]*)`", words.get(text, text))):
        if part:
            paragraph += nodes.literal(text=part) if i % 2 else nodes.Text(part)
    return nodes.entry("", paragraph)


class EndpointsDirective(SphinxDirective):
    """``bkjob-endpoints``: the table of every row of the endpoint table."""

    def run(self) -> list[nodes.Node]:
        words = WORDS.get(self.config.language or "", {})
        group = nodes.tgroup(cols=len(HEADER))
        group += [nodes.colspec(colwidth=1) for _ in HEADER]
        head, body = nodes.thead(), nodes.tbody()
        head += nodes.row("", *(_cell(text, words) for text in HEADER))
        body += [nodes.row("", *(_cell(text, words) for text in line)) for line in rows()]
        group += [head, body]
        return [nodes.table("", group, classes=["endpoints"])]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("bkjob-endpoints", EndpointsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
