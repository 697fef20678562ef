"""Fixtures of the end-to-end tests: raw HTTP calls to the simulator, an operator's environment.

Every test here crosses a real boundary: a socket on 127.0.0.1 (the simulator, the recording
server, a callback receiver), a child process, a tmux terminal or a redis-server. ``sim`` and
``make_client`` come from ``tests/conftest.py``.

``wire.call(flavor, api, params)`` sends what a well-behaved caller of that flavor sends (gateway:
the resource's method, auth in ``X-Bkapi-Authorization``; ESB: POST with auth in the body) and
returns the status, headers, raw body and parsed JSON.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import anyio
import attrs
import pytest

from bkjob_async.config import ApiFlavor, Scope
from bkjob_async.testing import BkJobSimulator
from bkjob_async.testing._api_catalog import V3_ENDPOINTS

from ..cli_run import make_env
from ..cluster.conftest import _redis_session, redis_server  # noqa: F401  (watch --redis)
from ..conftest import SIM_LAG

SCOPE = Scope.biz(2)
#: The default ``sim``'s operation lag: an operation's step change arrives this much later.
LAG = SIM_LAG
APP = {"bk_app_code": "sim-app", "bk_app_secret": "sim-secret", "bk_username": "alice"}
GATEWAY, JOBV3, V2 = ApiFlavor.APIGW_V3, ApiFlavor.ESB_JOBV3, ApiFlavor.ESB_V2
ALL_FLAVORS = (GATEWAY, JOBV3, V2)
V3_FLAVORS = (GATEWAY, JOBV3)


def ticking(sim: BkJobSimulator, tick: float) -> Callable[[], Awaitable[None]]:
    """Return a clock that moves ``sim``'s virtual time ``tick`` s every 10 ms, forever."""

    async def clock() -> None:
        while True:
            await anyio.sleep(0.01)
            sim.advance(tick)

    return clock


async def read_to_end(
    watch: AsyncIterator[Any],
    clock: Callable[[], Awaitable[None]],
    react: Callable[[Any], Any] | None = None,
    *,
    within: float = 45.0,
) -> list[Any]:
    """Read ``watch`` to its end while ``clock`` runs beside it; ``react`` to each event (and
    await what it returns, when it is awaitable). A watch still open after ``within`` s fails."""
    events: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock)
        with anyio.fail_after(within):
            async for event in watch:
                events.append(event)
                if react is not None:
                    result = react(event)
                    if hasattr(result, "__await__"):
                        await result
        tg.cancel_scope.cancel()
    return events


def scope_params(flavor: ApiFlavor, scope: Scope = SCOPE) -> dict[str, Any]:
    """Return how ``flavor`` spells ``scope``."""
    return scope.params(flavor)


def path_of(flavor: ApiFlavor, api: str) -> str:
    """Return the URL path of ``api`` under ``flavor``."""
    if flavor is GATEWAY:
        return f"/api/v3/{api}"
    return f"/api/c/compapi/v2/{'jobv3' if flavor is JOBV3 else 'job'}/{api}/"


@attrs.frozen
class Reply:
    """One raw HTTP answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """Return the body parsed as JSON."""
        return json.loads(self.body)

    @property
    def data(self) -> Any:
        """Return the envelope's ``data`` after checking it is a success."""
        return self.ok()

    def ok(self) -> Any:
        """Check the envelope is a success and return its ``data``."""
        payload = self.json
        assert payload["result"] is True, payload
        assert payload["code"] == 0
        return payload["data"]


class Wire:
    """Send raw requests to a simulator the way each API flavor's callers do."""

    def __init__(self, sim: BkJobSimulator, session: aiohttp.ClientSession) -> None:
        self.sim, self.session = sim, session

    async def call(
        self,
        flavor: ApiFlavor,
        api: str,
        params: Mapping[str, Any] | None = None,
        *,
        method: str | None = None,
        headers: Mapping[str, str] | None = None,
        auth: Mapping[str, str] | None = APP,
        scoped: bool = True,
    ) -> Reply:
        """Call ``api``; ``auth=None`` sends no credentials, ``scoped=False`` no scope."""
        values = {**(scope_params(flavor) if scoped else {}), **(params or {})}
        all_headers = dict(headers or {})
        if method is None:
            method = V3_ENDPOINTS[api].gateway_method if flavor is GATEWAY else "POST"
            method = method or "POST"
        if flavor is GATEWAY and auth is not None:
            all_headers.setdefault("X-Bkapi-Authorization", json.dumps(auth))
        elif auth is not None:
            values = {**auth, **values}
        url = self.sim.url + path_of(flavor, api)
        if method == "GET":
            query = {key: _query_value(value) for key, value in values.items()}
            request = self.session.get(url, params=query, headers=all_headers)
        else:
            request = self.session.request(method, url, json=values, headers=all_headers)
        async with request as response:
            return Reply(response.status, dict(response.headers), await response.read())

    async def data(
        self, flavor: ApiFlavor, api: str, params: Mapping[str, Any] | None = None
    ) -> Any:
        """Call ``api`` and return its ``data``, asserting success."""
        return (await self.call(flavor, api, params)).data

    async def job_status(self, flavor: ApiFlavor, job_id: int, hosts: bool = True) -> Any:
        """Return ``get_job_instance_status`` data."""
        params: dict[str, Any] = {"job_instance_id": job_id}
        if flavor is not V2:
            params["return_ip_result"] = hosts
        return await self.data(flavor, "get_job_instance_status", params)

    async def operate(self, flavor: ApiFlavor, job_id: int, step_id: int, code: int) -> Reply:
        """Send ``operate_step_instance``."""
        params = {"job_instance_id": job_id, "step_instance_id": step_id, "operation_code": code}
        return await self.call(flavor, "operate_step_instance", params)

    async def operate_job(self, flavor: ApiFlavor, job_id: int, code: int) -> Reply:
        """Send ``operate_job_instance``."""
        params = {"job_instance_id": job_id, "operation_code": code}
        return await self.call(flavor, "operate_job_instance", params)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


@pytest.fixture
def env(sim: BkJobSimulator) -> dict[str, str]:
    """Return the environment of an operator configured for ``sim``."""
    return make_env(sim.url)


@pytest.fixture
async def wire(sim: BkJobSimulator) -> AsyncIterator[Wire]:
    """Return raw HTTP access to ``sim``."""
    async with aiohttp.ClientSession() as session:
        yield Wire(sim, session)
