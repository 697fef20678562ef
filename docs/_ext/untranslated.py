"""In a translated build, a message the page shows in English is a warning (an error under -W).

The count of ``catalogs.py`` reads the catalogs alone, so it cannot see two ways a Chinese page
still shows English: a message the catalog lacks (the English page changed and nobody ran
``make docs-catalogs``), and a translation Sphinx throws away because it does not parse as the
English does (a heading translated as ``1. 标题`` parses as a list, not a title, and Sphinx keeps
the English one without a word). Sphinx marks each message of a page that has a catalog
``translated`` or not (``sphinx.transforms.i18n.Locale``); this transform, run after it, warns
of each one that is not, naming the page and the message. A translation equal to its English
(an identifier, a name) counts as translated here; ``catalogs.py`` judges those. Sphinx never
marks an image's alt text or a toctree (it translates them aside): a toctree's caption is
checked here by its text, an alt text only by the count; a code comment
(``codecomments.py``) by what its node kept. Pages without a catalog (the generated API
reference) have no marks and are left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from codecomments import commented_code
from docutils import nodes
from sphinx import addnodes
from sphinx.transforms import SphinxTransform
from sphinx.util import logging
from sphinx.util.nodes import NodeMatcher

if TYPE_CHECKING:
    from sphinx.application import Sphinx

logger = logging.getLogger(__name__)


class Untranslated(SphinxTransform):
    """Warn of each message of a translated page that Sphinx left in the source language."""

    default_priority = 26  # after Locale (20) and Sphinx's own count of the marks (25)

    def apply(self, **kwargs: Any) -> None:
        if self.config.language in (None, "", "en"):
            return
        page = self.env.current_document.docname
        left: list[tuple[nodes.Element, str]] = []
        for code in self.document.findall(commented_code):
            left.extend((code, f"# {comment}") for comment in code.untranslated())
        for node in NodeMatcher(nodes.Element, translated=False).findall(self.document):
            if isinstance(node, addnodes.toctree):
                if node.get("rawcaption") and node["caption"] == node["rawcaption"]:
                    left.append((node, node["caption"]))
            elif not isinstance(node, (nodes.image, addnodes.translatable)):
                left.append((node, node.astext()))
        for node, text in left:
            logger.warning(
                "%s: a message shows in English on the %s page (run `make docs-catalogs` and "
                "translate it; a translation that does not parse as the English does is "
                "dropped): %r",
                page,
                self.config.language,
                " ".join(text.split())[:80],
                location=node,
                type="i18n",
                subtype="untranslated",
            )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_transform(Untranslated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
