"""The built documentation site renders in a real browser, and its links and images resolve.

The site is ``make docs``'s (``docs_build.py``: built once for the run when ``make docs`` has
not built it since the last change), served on 127.0.0.1 (port 0). Headless Chromium (Debian's
package: ``make chromium`` installs it) opens the index, the tutorial, a how-to guide, a
reference page and the performance page; each must show its own heading and content, and every
request the browser made for it (stylesheets, scripts, images) must have been answered 200. A
link checker then reads every page of the site and resolves every internal link, anchor and
image against the files built. Without Chromium the browser checks are skipped, saying why
(under ``CI=true`` they fail: CI must install it); the link check needs no browser. The
Chinese site is beside it (``zh_CN/``, as ``make docs`` lays it out) and its links are checked
the same way, and its code is the English code with the comments in Chinese;
``test_docs_i18n.py`` opens it in the browser.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import pathlib
import re
import subprocess
import sys
import threading
import urllib.parse

import pytest

from . import docs_build
from .browser import HEADLESS, chromium

pytestmark = pytest.mark.timeout(400)  # two builds (unless make docs ran), then a browser


@pytest.fixture(scope="module")
def site() -> pathlib.Path:
    """The site as ``make docs`` lays it out (``docs_build.site``: its build, or the run's)."""
    return docs_build.site()


class _Handler(http.server.SimpleHTTPRequestHandler):
    served: list[tuple[str, int]]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.served.append((urllib.parse.urlsplit(self.path).path, int(code)))

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(site: pathlib.Path):
    """Serve the site on 127.0.0.1, a free port; yield (base URL, the log of what it served)."""
    served: list[tuple[str, int]] = []
    handler = type("Handler", (_Handler,), {"served": served})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(site))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _open(url: str, profile: pathlib.Path, *extra: str) -> str:
    """Load ``url`` in headless Chromium (loopback only, no background traffic); return the DOM."""
    argv = [
        chromium(),
        *HEADLESS,
        f"--user-data-dir={profile}",
        "--virtual-time-budget=3000",
        *extra,
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


PAGES = {
    "index.html": ("bkjob-async", "Tutorial: a live watch of launched jobs"),
    "tutorial.html": ("Tutorial: a live watch of launched jobs", "first_watch.py"),
    "howto/launch-and-watch.html": ("Launch jobs and watch them", "HostTransition"),
    "reference/api/bkjob_async.polling.html": ("bkjob_async.polling", "wait_finished"),
    "performance.html": ("Performance", "CPU per job-hour"),
}


@pytest.mark.parametrize("page", list(PAGES))
def test_the_page_renders_in_a_browser_with_everything_it_asks_for(
    page: str, server, tmp_path: pathlib.Path
) -> None:
    base, served = server
    heading, content = PAGES[page]
    served.clear()
    dom = _open(f"{base}/{page}", tmp_path / "profile", "--dump-dom")
    text = _Text.of(dom)
    assert heading in text, f"{page}: no {heading!r} in what the browser shows"
    assert content in text, f"{page}: no {content!r}"
    asked = {path for path, _ in served}
    assert f"/{page}" in asked
    assert any(path.endswith(".css") for path in asked), "no stylesheet loaded"
    failed = [(path, code) for path, code in served if code != 200]
    assert not failed, f"{page}: the browser's requests that failed: {failed}"
    if page == "performance.html":
        images = {path for path in asked if path.endswith(".png")}
        assert len(images) >= 4, images  # every plot, fetched and served


def test_a_screenshot_shows_a_drawn_page(server, tmp_path: pathlib.Path) -> None:
    base, _ = server
    shot = tmp_path / "tutorial.png"
    _open(
        f"{base}/tutorial.html",
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1200,900",
    )
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG")
    # A blank or unstyled page compresses to a few kilobytes; a drawn one (text, sidebar,
    # code) does not.
    assert len(data) > 30_000, len(data)


class _Text(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    @classmethod
    def of(cls, dom: str) -> str:
        parser = cls()
        parser.feed(dom)
        return " ".join(" ".join(parser.parts).split())


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(found["id"] or "")
        for name in ("href", "src"):
            value = found.get(name)
            if value and not (tag == "link" and name == "href" and found.get("rel") == "canonical"):
                self.links.append((tag, value))


@functools.cache
def _parse(path: pathlib.Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_every_internal_link_anchor_and_image_resolves(site: pathlib.Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 30
    broken = []
    checked = 0
    for page in pages:
        for tag, link in _parse(page).links:
            parts = urllib.parse.urlsplit(link)
            if parts.scheme or link.startswith("//"):
                continue  # another site: not this check's (nothing leaves 127.0.0.1)
            target = (
                (page.parent / urllib.parse.unquote(parts.path)).resolve() if parts.path else page
            )
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            if not target.is_relative_to(site.resolve()) or not target.exists():
                broken.append(f"{page.relative_to(site)}: <{tag}> {link}: no such file")
            elif (
                parts.fragment
                and target.suffix == ".html"
                and urllib.parse.unquote(parts.fragment) not in _parse(target).ids
            ):
                broken.append(f"{page.relative_to(site)}: <{tag}> {link}: no such anchor")
    assert checked > 1000
    assert not broken, "\n".join(broken[:50])


class _Code(html.parser.HTMLParser):
    """The text of each highlighted code block of a page, and its language."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[tuple[str, str]] = []
        self._language: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        language = next((c[10:] for c in classes if c.startswith("highlight-")), None)
        if tag == "div" and language and self._language is None:
            self._language, self._depth = language, 0
            self.blocks.append((language, ""))
        elif tag == "div" and self._language is not None:
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._language is not None:
            if self._depth == 0:
                self._language = None
            else:
                self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._language is not None:
            language, text = self.blocks[-1]
            self.blocks[-1] = (language, text + data)


def _codecomments():
    sys.path.insert(0, str(docs_build.DOCS / "_ext"))
    try:
        import codecomments
    finally:
        sys.path.remove(str(docs_build.DOCS / "_ext"))
    return codecomments


def _uncommented(language: str, code: str) -> str:
    """Return the code without its comments (what ``docs/_ext/codecomments.py`` may change)."""
    lines = code.split("\n")
    for line, column, _ in _codecomments().every_comment(code, language):
        lines[line] = lines[line][:column]
    return "\n".join(lines)


def test_the_chinese_pages_run_the_english_code_commented_in_chinese(site: pathlib.Path) -> None:
    """Each code block of a Chinese page is its English page's, but for the comments
    (``codecomments.py`` makes each a message): the code the docs' tests run, and no English
    comment left where a Chinese reader reads."""
    compared = translated = 0
    for english in sorted(site.glob("**/*.html")):
        relative = english.relative_to(site)
        if relative.parts[0] in docs_build.LANGUAGES or relative.parts[0].startswith("_"):
            continue
        chinese = site / "zh_CN" / relative
        if not chinese.exists() or relative.parts[:2] == ("reference", "api"):
            continue
        # (the command line's --help, generated: its words stay English, issue 52)
        english_help = relative.as_posix() == "reference/cli.html"
        parsers = [_Code(), _Code()]
        for parser, path in zip(parsers, (english, chinese), strict=True):
            parser.feed(path.read_text(encoding="utf-8"))
        assert len(parsers[0].blocks) == len(parsers[1].blocks), relative
        for (language, en), (_, zh) in zip(parsers[0].blocks, parsers[1].blocks, strict=True):
            compared += 1
            assert _uncommented(language, zh) == _uncommented(language, en), relative
            translated += zh != en
            # A comment in English words (a message) with no Chinese is one the catalog left.
            left = [] if english_help else _codecomments().comments(zh, language)
            assert [c for c in left if not re.search("[\u4e00-\u9fff]", c[2])] == [], relative
    assert compared > 100
    assert translated > 30
