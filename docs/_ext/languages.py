"""A language switch on every page: links to the same page in the site's other languages.

``make docs`` builds English at the root of ``docs/_build/html`` and Chinese under its
``zh_CN/``; Read the Docs serves each language as a project of its own, at
``/<language>/<version>/`` (``zh-cn`` for Chinese), a translation of the English one. The links
are relative, so the same pages work served from either place, and from a file system.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.application import Sphinx

#: The languages the site is built in: Sphinx's name, the name shown, the HTML ``lang``, and
#: the folder of the local build (English at the root) and of Read the Docs' URLs.
LANGUAGES = (
    ("en", "English", "en", "", "en"),
    ("zh_CN", "简体中文", "zh-CN", "zh_CN/", "zh-cn"),
)


def roots(current: str, *, readthedocs_version: str | None = None) -> dict[str, str]:
    """Return each language's site root, relative to the root of the ``current`` one's."""
    if readthedocs_version is not None:
        return {
            code: "" if code == current else f"../../{rtd}/{readthedocs_version}/"
            for code, _, _, _, rtd in LANGUAGES
        }
    here = next(folder for code, _, _, folder, _ in LANGUAGES if code == current)
    up = "../" * here.count("/")
    return {code: "" if code == current else up + folder for code, _, _, folder, _ in LANGUAGES}


def _page_context(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    current = app.config.language or "en"
    version = os.environ.get("READTHEDOCS_VERSION") if os.environ.get("READTHEDOCS") else None
    to_root = "../" * pagename.count("/")
    found = roots(current, readthedocs_version=version)
    context["site_languages"] = [
        (label, lang, to_root + found[code] + pagename + ".html", code == current)
        for code, label, lang, _, _ in LANGUAGES
    ]


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", _page_context)
    app.add_css_file("languages.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
