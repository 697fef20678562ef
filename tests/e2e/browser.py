"""Headless Chromium driven from a test over the DevTools protocol, with aiohttp's websocket.

Debian's ``chromium`` (``make chromium`` installs it), found and skipped (under ``CI=true``:
failed) as ``test_docs_site.py`` does; loopback only, no background traffic, a profile of its
own. The test talks to the browser over the DevTools websocket it opens on 127.0.0.1
(``--remote-debugging-port=0``): pages, script evaluation, console messages, uncaught errors,
dialogs and screenshots, with nothing to install but the browser itself.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import pathlib
import re
import shutil
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from .. import load

#: How many times its promise a ``Page.wait_for`` waits at most on a loaded machine.
MAX_SCALE = 3.0

__all__ = ["HEADLESS", "Browser", "Page", "chromium", "launched"]


def chromium() -> str:
    """Return Chromium's path; skip (under ``CI=true``: fail) the test without it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    reason = "chromium is not installed: `make chromium` installs Debian's package (root)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class Browser:
    """One DevTools connection to a running Chromium."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._next = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._listeners: dict[str, list[Any]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = message.json()
            if "id" in data:
                future = self._waiting.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(RuntimeError(f"DevTools: {data['error']}"))
                    else:
                        future.set_result(data.get("result", {}))
                continue
            key = f"{data.get('sessionId', '')}:{data['method']}"
            for listener in self._listeners.get(key, ()):
                listener(data.get("params", {}))

    def on(self, session: str, method: str, listener: Any) -> None:
        """Call ``listener(params)`` for each ``method`` event of ``session``."""
        self._listeners.setdefault(f"{session}:{method}", []).append(listener)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str = ""
    ) -> Any:
        """Send one DevTools command; return its result."""
        self._next += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = future
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self._ws.send_json(message)
        return await asyncio.wait_for(future, 30)

    async def new_page(self, width: int = 1280, height: int = 860) -> Page:
        """Open a blank tab and return it, with its console and errors recorded."""
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        await page.start(width, height)
        return page

    async def aclose(self) -> None:
        """Close the connection (the process is ended by ``launched``)."""
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._ws.close()


class Page:
    """One tab: navigate, evaluate, wait for a condition, take a screenshot."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session
        #: Console errors, uncaught exceptions and errors the browser logged (CSP refusals).
        self.errors: list[str] = []
        #: Dialogs a script opened (``alert``): an injected script would.
        self.dialogs: list[str] = []
        self._loaded = asyncio.Event()

    async def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return await self.browser.send(method, params, self.session)

    async def start(self, width: int, height: int) -> None:
        on = self.browser.on
        on(self.session, "Runtime.consoleAPICalled", self._console)
        on(self.session, "Runtime.exceptionThrown", self._exception)
        on(self.session, "Log.entryAdded", self._log)
        on(self.session, "Page.javascriptDialogOpening", self._dialog)
        on(self.session, "Page.loadEventFired", lambda _: self._loaded.set())
        for domain in ("Runtime", "Log", "Page"):
            await self.send(f"{domain}.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def _console(self, params: dict[str, Any]) -> None:
        if params.get("type") in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a)) for a in params.get("args", ())))

    def _exception(self, params: dict[str, Any]) -> None:
        self.errors.append(str(params.get("exceptionDetails", params)))

    def _log(self, params: dict[str, Any]) -> None:
        entry = params.get("entry", {})
        if entry.get("level") == "error":
            self.errors.append(f"{entry.get('source')}: {entry.get('text')} ({entry.get('url')})")

    def _dialog(self, params: dict[str, Any]) -> None:
        self.dialogs.append(params.get("message", ""))
        asyncio.get_running_loop().create_task(
            self.send("Page.handleJavaScriptDialog", {"accept": False})
        )

    async def goto(self, url: str) -> None:
        """Open ``url`` and wait for its load event."""
        self._loaded.clear()
        await self.send("Page.navigate", {"url": url})
        await asyncio.wait_for(self._loaded.wait(), 30)

    async def evaluate(self, expression: str) -> Any:
        """Return the value of a script expression (promises awaited)."""
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"the page's script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def choose(self, selector: str, value: str, event: str = "change") -> None:
        """Set a form control's value as a person would, and tell the page (``event``)."""
        await self.evaluate(
            f"(() => {{ const c = document.querySelector({json.dumps(selector)});"
            f" c.value = {json.dumps(value)}; c.dispatchEvent(new Event({json.dumps(event)}));"
            " return true; })()"
        )

    async def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        """Return the expression's value once it is truthy; fail after ``timeout`` seconds, a
        promise on a machine with a core to spare: scaled by the machine's slowdown now (the
        browser, the page's server and the test share its cores; ``tests/load.py``), up to
        ``MAX_SCALE`` times."""
        loop = asyncio.get_running_loop()
        timeout = min(MAX_SCALE * timeout, load.deadline(timeout, load.slowdown()))
        deadline = loop.time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if loop.time() > deadline:
                raise AssertionError(f"still false after {timeout} s: {expression}")
            await asyncio.sleep(0.05)

    async def screenshot(self, path: pathlib.Path) -> None:
        """Save the page as a PNG."""
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))


#: Headless Chromium on loopback only: no sandbox (the suite may run as root), no GPU, no
#: first-run pages, no background traffic, no proxy.
HEADLESS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-proxy-server",
)


@contextlib.asynccontextmanager
async def launched(profile: pathlib.Path) -> AsyncIterator[Browser]:
    """Start headless Chromium and yield a DevTools connection to it; end it after."""
    argv = [
        chromium(),
        *HEADLESS,
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
    ]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stderr is not None
        url = None
        while url is None:
            line = await asyncio.wait_for(process.stderr.readline(), 60)
            if not line:
                raise AssertionError("chromium ended before it opened its DevTools port")
            found = re.search(rb"DevTools listening on (ws://\S+)", line)
            if found:
                url = found.group(1).decode()
        drain = asyncio.get_running_loop().create_task(_drain(process.stderr))
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(url, max_msg_size=0)
            browser = Browser(ws)
            try:
                yield browser
            finally:
                await browser.aclose()
        drain.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass
