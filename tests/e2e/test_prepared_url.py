"""A poll's request sent again goes out with the URL the transport derived the first time (kept
on its query, ``KeptQuery.prepared``); the transport keeps the URLs of a bounded number."""

from __future__ import annotations

import gc

import attrs
import pytest
from yarl import URL

from bkjob_async import BkJobClient, Scope
from bkjob_async._aiohttp import AiohttpTransport
from bkjob_async._protocol import Request, Response
from bkjob_async.config import Timeouts
from bkjob_async.polling._reader import PollRequests, Query
from bkjob_async.testing import json_response, serve

pytestmark = pytest.mark.anyio


def _protocol(url: str) -> PollRequests:
    return PollRequests(BkJobClient(url, app_code="a", app_secret="s", username="u").protocol)


def _prepared(request: Request) -> object:
    assert isinstance(request.query, Query)
    return request.query.prepared


async def test_a_request_sent_again_keeps_its_url_and_sends_the_same_query() -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def handler(request: Request) -> Response:
        seen.append((request.url, dict(request.query or {})))
        return json_response({"result": True, "code": 0, "data": {}})

    async with serve(handler) as server:
        request = _protocol(server.url).job(Scope.biz(2), 42, with_hosts=True)
        assert _prepared(request) is None
        transport = AiohttpTransport(timeouts=Timeouts())
        try:
            await transport.send(request)
            prepared = _prepared(request)
            await transport.send(request)
        finally:
            await transport.aclose()
    assert isinstance(prepared, URL)
    assert _prepared(request) is prepared  # derived once, reused
    assert dict(prepared.query) == dict(request.query or {})
    assert seen[0] == seen[1]
    assert seen[0][1] == dict(request.query or {})


async def test_a_changed_request_derives_its_url_again() -> None:
    paths: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        paths.append(dict(request.query or {}))
        return json_response({"result": True, "code": 0, "data": {}})

    async with serve(handler) as server:
        first = _protocol(server.url).job(Scope.biz(2), 42, with_hosts=True)
        transport = AiohttpTransport(timeouts=Timeouts())
        try:
            await transport.send(first)
            second = attrs.evolve(first, query={**(first.query or {}), "job_instance_id": "43"})
            assert not isinstance(second.query, Query)  # the memo never follows a changed query
            await transport.send(second)
        finally:
            await transport.aclose()
    assert [p["job_instance_id"] for p in paths] == ["42", "43"]


def test_the_memo_is_never_compared_or_shown() -> None:
    request = _protocol("http://bkjob.test").job(Scope.biz(2), 42)
    twin = _protocol("http://bkjob.test").job(Scope.biz(2), 42)
    assert isinstance(request.query, Query)
    request.query.prepared = URL("http://elsewhere.test/")
    assert request == twin
    assert "elsewhere" not in repr(request)


async def test_up_to_kept_urls_requests_alive_keep_their_url() -> None:
    def handler(request: Request) -> Response:
        return json_response({"result": True, "code": 0, "data": {}})

    async with serve(handler) as server:
        protocol = _protocol(server.url)
        requests = [protocol.job(Scope.biz(2), i) for i in (1, 2, 3)]
        transport = AiohttpTransport(timeouts=Timeouts(), kept_urls=2)
        unkept = AiohttpTransport(timeouts=Timeouts(), kept_urls=0)
        try:
            for request in requests:
                await transport.send(request)
            first = [isinstance(_prepared(r), URL) for r in requests]
            await transport.send(requests[2])  # no place: sent again without keeping it
            again = _prepared(requests[2])
            third = requests.pop()
            del requests[0]  # a request that kept its URL goes: its place is free
            gc.collect()
            await transport.send(third)
            freed = isinstance(_prepared(third), URL)
            fresh = protocol.job(Scope.biz(2), 4)
            response = await unkept.send(fresh)
        finally:
            await transport.aclose()
            await unkept.aclose()
    assert first == [True, True, False]
    assert again is None
    assert freed
    assert response.status == 200
    assert _prepared(fresh) is None


async def test_polls_not_kept_are_derived_from_their_parsed_base_url_each_their_own() -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def handler(request: Request) -> Response:
        seen.append((request.url, dict(request.query or {})))
        return json_response({"result": True, "code": 0, "data": {}})

    async with serve(handler) as server:
        protocol = _protocol(server.url)
        polls = [protocol.job(Scope.biz(2), i) for i in (7, 8, 7)] + [
            protocol.job(Scope.biz_set(3), 9, with_hosts=False)
        ]
        transport = AiohttpTransport(timeouts=Timeouts(), kept_urls=0)
        try:
            for request in polls:
                await transport.send(request)
        finally:
            await transport.aclose()
    assert [_prepared(r) for r in polls] == [None] * 4
    assert [query for _, query in seen] == [dict(r.query or {}) for r in polls]
    assert [query["job_instance_id"] for _, query in seen] == ["7", "8", "7", "9"]
    assert seen[3][1]["bk_scope_type"] == "biz_set"
    assert len({url for url, _ in seen}) == 1
