"""The Chinese site in a real browser: the tutorial drawn in a CJK font, the language switch.

The site is ``make docs``'s (``docs_build.py``: English at the root, Chinese under ``zh_CN/``;
built once for the run when ``make docs`` has not built it since the last change), served on
127.0.0.1 (port 0). Headless Chromium (``browser``: Debian's package, driven over DevTools)
opens the Chinese tutorial: its heading is Chinese, the page says ``lang="zh-CN"``, and the
fonts the browser drew the heading with (DevTools' ``CSS.getPlatformFontsForNode``) include a
CJK font installed on this machine, not a fallback that draws boxes. Then the switch: the English tutorial's "简体中文" link opens the Chinese
tutorial, whose "English" link leads back. Code blocks are the same in both languages. And the
Chinese site's search: 轮询, 定时任务 and 作业实例 each find every page whose Chinese says it, and
so does a compound query typed without spaces (失败主机, 轮询间隔) or spaced (失败 主机). Without
Chromium, or without a CJK font (``make chromium`` installs both, as root), the tests skip
(under ``CI=true`` they fail).
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import threading
import urllib.parse

import pytest
from babel.messages.pofile import read_po

from . import docs_build
from .browser import Page, chromium, launched

pytestmark = pytest.mark.timeout(400)


def _cjk_families() -> set[str]:
    """Return the families of the fonts installed that cover Chinese (fontconfig's view)."""
    reason = "no CJK font is installed: `make chromium` installs fonts-noto-cjk (root)"
    fc_list = shutil.which("fc-list")
    found = set()
    if fc_list:
        done = subprocess.run(
            [fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=False
        )
        for line in done.stdout.splitlines():
            found.update(name.strip() for name in line.split(",") if name.strip())
    if not found:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def site() -> pathlib.Path:
    """The site as ``make docs`` lays it out (``docs_build.site``: its build, or the run's)."""
    chromium()  # skip before building a site no browser will see
    return docs_build.site()


@pytest.fixture(scope="module")
def base(site: pathlib.Path):
    """Serve the site on 127.0.0.1, a free port; yield its URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(site))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


async def _follow(page: Page, selector: str) -> None:
    """Click the link ``selector`` as a person would, and wait for the page it opens."""
    page._loaded.clear()  # (Page.goto's own wait, for a navigation the page makes itself)
    await page.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
    await asyncio.wait_for(page._loaded.wait(), 30)


async def _fonts_of(page: Page, selector: str) -> list[dict[str, object]]:
    """Return the platform fonts the browser drew the text of ``selector`` with."""
    await page.send("DOM.enable")
    await page.send("CSS.enable")
    document = await page.send("DOM.getDocument", {"depth": 0})
    node = await page.send(
        "DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": selector}
    )
    assert node["nodeId"], f"no {selector} on the page"
    found = await page.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
    return list(found["fonts"])


async def test_the_chinese_tutorial_is_drawn_in_a_cjk_font(base: str, tmp_path) -> None:
    families = _cjk_families()
    async with launched(tmp_path / "profile") as browser:
        page = await browser.new_page()
        await page.goto(f"{base}/zh_CN/tutorial.html")
        assert await page.evaluate("document.documentElement.lang") == "zh-CN"
        heading = await page.evaluate("document.querySelector('h1').textContent")
        assert heading.startswith("教程：五分钟内实时监视"), heading
        text = await page.evaluate("document.querySelector('article').innerText")
        assert "在第一个终端中" in text
        # The code is the code of the English page, untranslated.
        assert "fast_execute_script" in text
        assert 'Scope.parse(os.environ["BKJOB_SCOPE"])' in text
        fonts = await _fonts_of(page, "h1")
        used = {str(font["familyName"]) for font in fonts}
        # Every Chinese character of the heading drawn in a font that covers Chinese: with
        # none installed, Chromium falls back to a Latin font and draws boxes.
        cjk_glyphs = sum(int(f["glyphCount"]) for f in fonts if f["familyName"] in families)
        chinese = sum(1 for ch in heading if "\u4e00" <= ch <= "\u9fff")
        assert used & families, f"drawn with {used}, none of the CJK fonts {sorted(families)}"
        assert cjk_glyphs >= chinese, (fonts, chinese)
        assert not page.errors, page.errors


#: furo's own words on every page, and what the Chinese site says instead (its sphinx.po).
THEME = {
    "Skip to content": "跳到正文",
    "On this page": "本页目录",
    "Previous": "上一页",
    "Next": "下一页",
    "Back to top": "回到顶部",
}


async def test_the_theme_speaks_chinese_on_the_chinese_site(base: str, tmp_path) -> None:
    async with launched(tmp_path / "profile") as browser:
        page = await browser.new_page()
        await page.goto(f"{base}/zh_CN/howto/census.html")  # (a previous and a next page)
        # The page's whole text, hidden parts too (the skip link, the back-to-top button).
        text = await page.evaluate("document.body.textContent")
        for english, chinese in THEME.items():
            assert chinese in text, (english, chinese)
            assert english not in text, english
        await page.goto(f"{base}/howto/census.html")
        text = await page.evaluate("document.body.textContent")
        assert all(english in text for english in THEME), "the English site keeps them"
        assert not page.errors, page.errors


async def test_the_language_switch_leads_to_the_same_page_and_back(base: str, tmp_path) -> None:
    async with launched(tmp_path / "profile") as browser:
        page = await browser.new_page()
        await page.goto(f"{base}/howto/census.html")
        assert await page.evaluate("document.documentElement.lang") == "en"
        current = await page.evaluate(
            "document.querySelector('.sidebar-languages [aria-current=page]').textContent"
        )
        assert current == "English"
        # A person's click on the visible link (furo shows the sidebar at this width).
        assert await page.evaluate(
            "document.querySelector('a.sidebar-language[hreflang=\"zh-CN\"]').offsetParent !== null"
        )
        await _follow(page, 'a.sidebar-language[hreflang="zh-CN"]')
        assert await page.evaluate("location.pathname") == "/zh_CN/howto/census.html"
        heading = await page.evaluate("document.querySelector('h1').textContent")
        assert heading.startswith("等待成千上万个作业"), heading
        assert await page.evaluate("document.documentElement.lang") == "zh-CN"
        await _follow(page, 'a.sidebar-language[hreflang="en"]')
        assert await page.evaluate("location.pathname") == "/howto/census.html"
        heading = await page.evaluate("document.querySelector('h1').textContent")
        assert heading.startswith("Wait for thousands of jobs"), heading
        assert not page.errors, page.errors


def _pages_that_say(word: str) -> set[str]:
    """Return the pages whose Chinese text holds ``word``, read from their catalogs (not from
    the search index the test checks): ``howto/census`` for ``howto/census.po``."""
    folder = docs_build.DOCS / "locale" / "zh_CN" / "LC_MESSAGES"
    found = set()
    for po in folder.rglob("*.po"):
        with po.open("rb") as f:
            catalog = read_po(f)
        if any(word in str(m.string) for m in catalog if m.id and not m.fuzzy):
            found.add(po.relative_to(folder).with_suffix("").as_posix())
    return found


async def _searched(page: Page, base: str, query: str) -> str:
    """Open the Chinese site's search page on ``query``, wait for its search to end and return
    its summary.

    The search ends with a summary (Sphinx's "found N pages", set by its _finishSearch alone)
    once every result is shown, each with a summary read from its page, one after another: on
    two loaded cores (Sphinx builds beside it) that took more than a minute. (Not
    ``Search._pulse_status === -1``: a pulse timer pending when the search stops starts the
    dots again from -1, so it can stay >= 0 after the end: 1 load in 12.)
    """
    await page.goto(f"{base}/zh_CN/search.html?q={urllib.parse.quote(query)}")
    await page.wait_for(
        "typeof Search !== 'undefined'"
        " && Search.status !== undefined && /\\d/.test(Search.status.innerText)",
        timeout=240,
    )
    return str(await page.evaluate("Search.status.innerText"))


@pytest.mark.parametrize("word", ["轮询", "定时任务", "作业实例"])
async def test_a_search_on_the_chinese_site_finds_the_pages_that_use_a_word(
    base: str, word: str, tmp_path
) -> None:
    # Sphinx splits the Chinese text into words with jieba and a dictionary of the glossary's
    # terms (docs/_ext/zhsearch.py); the page's search runs in the browser, on its index.
    expected = _pages_that_say(word)
    assert expected, f"no page says {word}"
    async with launched(tmp_path / "profile") as browser:
        page = await browser.new_page()
        status = await _searched(page, base, word)
        shown = int(re.search(r"\d+", status)[0])
        await page.wait_for(
            f"document.querySelectorAll('#search-results ul.search > li').length >= {shown}"
        )
        links = await page.evaluate(
            "[...document.querySelectorAll('#search-results ul.search > li > a')]"
            ".map(a => new URL(a.href).pathname)"
        )
        assert not page.errors, page.errors  # (Sphinx 9.0.4: "ChineseStemmer is not defined")
    found = {path.removeprefix("/zh_CN/").removesuffix(".html") for path in links}
    assert expected <= found, (word, sorted(expected - found), status)


#: Compound queries a Chinese reader types without spaces, and the same spaced as the index
#: splits them (docs/_ext/zhsearch.py: split in the browser as the index was, issue 89).
COMPOUNDS = {
    "人工确认": "人工 确认",
    "失败主机": "失败 主机",
    "作业状态": "作业 状态",
    "主机状态": "主机 状态",
    "作业结束": "作业 结束",
    "轮询间隔": "轮询 间隔",
    "执行方案": "执行 方案",
    "作业实例": "作业 实例",
    "作业失败": "作业 失败",  # (not in the glossary: the browser's cut alone finds it)
    "失败的主机": "失败 主机",
}

#: Sphinx's own search of the page, on a query (its split, its index, its AND of the words):
#: the pages it returns, without showing them one by one (what takes a minute).
_RESULTS = "((q) => [...new Set(Search._performSearch(...Search._parseQuery(q)).map((r) => r[0]))])"


async def test_a_chinese_query_finds_its_pages_spaced_or_not(base: str, tmp_path) -> None:
    async with launched(tmp_path / "profile") as browser:
        page = await browser.new_page()
        # One search as a reader makes it, from the search page's address to its list.
        status = await _searched(page, base, "失败主机")
        assert int(re.search(r"\d+", status)[0]) >= len(_pages_that_say("失败主机")), status
        # The query cut as the index was: a word of the index stays whole, the rest is cut
        # into its words, a character no word covers (的) left out.
        split = await page.evaluate("splitQuery('失败主机 失败的主机 poller轮询间隔')")
        assert split == ["失败主机", "失败", "主机", "poller", "轮询间隔"], split
        for compound, spaced in COMPOUNDS.items():
            expected = _pages_that_say(compound)
            assert expected, f"no page says {compound}"
            for query in (compound, spaced):
                found = set(await page.evaluate(f"{_RESULTS}({json.dumps(query)})"))
                assert expected <= found, (query, sorted(expected - found))
        assert not page.errors, page.errors
