"""Sphinx configuration of the bkjob-async documentation (``make docs``; strict in ``make test``).

Pages are MyST Markdown. The reference is generated from the docstrings by ``_ext/apiref.py``
(every name of every public module's ``__all__``; a public name without a docstring is a
warning, so the strict build fails), the command line's page from its argparse parser by
``_ext/cliref.py``, and the table of every typed API from the endpoint table by
``_ext/endpoints.py``. The build is nitpicky: every cross-reference must resolve.

The site is built in English and in Chinese (``-D language=zh_CN``, ``make docs``): Sphinx's
own gettext machinery, with one catalog a page under ``locale/zh_CN/LC_MESSAGES/`` kept by
``sphinx-intl`` (``make docs-catalogs``), and a language switch on every page
(``_ext/languages.py``). Code blocks are not messages, their comments are
(``_ext/codecomments.py``): both languages show the same code, commented in their language.
How the pages read (sentence length, calques, Chinese punctuation) is ``_ext/prose.py``'s check.
"""

from __future__ import annotations

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

import bkjob_async  # noqa: E402

project = "bkjob-async"
author = "The bkjob-async authors"
copyright = "The bkjob-async authors"
release = bkjob_async.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "apiref",
    "cliref",
    "endpoints",
    "languages",
    "codecomments",
    "untranslated",
    "zhsearch",
    "prose",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "_templates", "locale", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# Translations: English is the source; ``-D language=zh_CN`` builds the Chinese site from the
# catalogs (a message without a translation shows in English; ``docs/_ext/catalogs.py`` counts
# them). One catalog a page (not one a folder), named as the page is, no uuids or locations
# that would churn the catalogs at every edit of a page.
language = "en"
# The theme's own words (furo's "On this page", "Previous", "Next"...) come from Sphinx's "sphinx"
# catalog: locale/zh_CN/LC_MESSAGES/sphinx.po has furo's, read before Sphinx's own.
locale_dirs = ["locale/"]
gettext_compact = False
gettext_uuid = False
gettext_location = False
# Search in Chinese (_ext/zhsearch.py): Sphinx splits the Chinese text into words with jieba (a
# docs dependency, pyproject's dev dependency group), and the zh_CN build sets html_search_options to
# {"dict": <a file of the glossary's Chinese terms>}, so that 作业实例 or 执行方案 is one word
# of the index, not two. It also carries Sphinx's fix of Chinese search (sphinx-doc/sphinx#14229)
# until a Sphinx release has it.
html_search_options: dict[str, str] = {}
myst_enable_extensions = ["colon_fence", "deflist"]
# Headings get anchors, so pages can link to a section: [text](page.md#section).
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # a page may start at ## in an included fragment

html_theme = "furo"
html_title = f"bkjob-async {release}"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"  # (the browser asks for /favicon.ico without one)
# furo's sidebar, with the language switch (_templates/sidebar/languages.html) under the search.
html_sidebars = {
    "**": [
        "sidebar/scroll-start.html",
        "sidebar/brand.html",
        "sidebar/search.html",
        "sidebar/languages.html",
        "sidebar/navigation.html",
        "sidebar/ethical-ads.html",
        "sidebar/scroll-end.html",
    ]
}

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = True
autodoc_default_options = {"show-inheritance": True}

nitpicky = True
# No intersphinx: the build runs offline, so names of other packages cannot resolve. They are
# shown as plain text instead of failing the build. Python's builtins and ``typing`` resolve
# on their own; everything else outside bkjob_async is one of these:
nitpick_ignore_regex = [
    # The dependencies and optional extras (aiohttp, anyio, attrs, cattrs, redis, rich,
    # prometheus_client), as they appear in signatures.
    (
        r"py:.*",
        r"(aiohttp|anyio|attr|attrs|cattrs|redis|rich|prometheus_client|multidict|yarl)(\..*)?",
    ),
    # The standard library's modules, which intersphinx would link to python.org.
    (
        r"py:.*",
        r"(_dt|asyncio|collections|concurrent|contextlib|datetime|enum|http|ipaddress|logging|"
        r"os|pathlib|re|socket|sqlite3|ssl|types|typing|typing_extensions|zoneinfo|"
        r"argparse|io|json|random|threading|queue|weakref|decimal|uuid|abc)(\..*)?",
    ),
    # Type variables and the names typing's machinery leaves in signatures.
    (r"py:.*", r"(T|T_co|E|R|P|K|V|_T|NoneType|ellipsis|Self|Ellipsis|\.\.\.)"),
]
