"""Fixtures of the poll-engine tests: a scripted server, a client on it, a fast poller."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bkjob_async import BkJobClient, Poller

from .scripted import FAST, ScriptedServer


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer()
    app = web.Application()
    app.router.add_get("/api/v3/get_job_instance_status", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        server.released.set()
        await runner.cleanup()


@pytest.fixture
async def client(scripted: ScriptedServer) -> AsyncIterator[BkJobClient]:
    async with BkJobClient(
        scripted.url, app_code="app", app_secret="s3cret", username="admin"
    ) as c:
        yield c


@pytest.fixture
async def poller(client: BkJobClient) -> AsyncIterator[Poller]:
    async with Poller(client, policy=FAST) as p:
        yield p
