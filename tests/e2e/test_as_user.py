"""``BkJobClient.as_user``: per-call identities over one session, connection pool and policy.

A hundred users call at once through views of one client on the built-in transport: each
request reaches the server with its own user (and language), one connector serves them all,
and closing a view closes nothing. The ``bk_token`` and ``access_token`` forms replace the
client's identity, and their tokens stay out of every ``repr`` and error; the blocking client
has the same views; a ``Poller`` polls with the identity of the client it is given.
"""

from __future__ import annotations

import gc
import json
from typing import Any

import aiohttp
import anyio
import pytest

from bkjob_async import JobFinished, NotFoundError, Poller, PollPolicy
from bkjob_async.sync import BkJobClient as SyncClient
from bkjob_async.testing import Request, Response
from tests.conftest import APP_SECRET, BK_TOKEN, RecordingServer, envelope, json_answer

from .conftest import SCOPE

STATUS = {
    "finished": True,
    "job_instance": {"job_instance_id": 1, "status": 3, "name": "j", "create_time": 1},
    "step_instance_list": [],
}


def status(job: int) -> dict[str, Any]:
    return {**STATUS, "job_instance": {**STATUS["job_instance"], "job_instance_id": job}}


async def test_a_hundred_users_share_one_pool_each_request_its_own_user(
    server: RecordingServer, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    connectors: list[aiohttp.TCPConnector] = []
    made = aiohttp.TCPConnector.__init__

    def counted(self: aiohttp.TCPConnector, *args: Any, **kwargs: Any) -> None:
        connectors.append(self)
        made(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.TCPConnector, "__init__", counted)
    for _ in range(100):
        server.reply_with(answer)
    async with make_client(connection_limit=8) as client:
        answers: dict[int, int] = {}

        async def one(job: int) -> None:
            user = client.as_user(f"user{job}", language="zh-cn" if job % 2 else None)
            answer = await user.get_job_instance_status(SCOPE, job)
            answers[job] = answer.job.job_instance_id

        async with anyio.create_task_group() as tg:
            for job in range(1, 101):
                tg.start_soon(one, job)
        assert client.as_user("someone").transport is client.transport
    assert answers == {job: job for job in range(1, 101)}
    assert len(server.requests) == 100
    for request in server.requests:
        job = int(request.query["job_instance_id"])
        assert request.auth == {
            "bk_app_code": "my-app",
            "bk_app_secret": APP_SECRET,
            "bk_username": f"user{job}",
        }
        assert request.headers["Blueking-Language"] == ("zh-cn" if job % 2 else "en")
    assert len(connectors) == 1  # one pool for the client and every view


def answer(request: Request) -> Response:
    return json_answer(envelope(status(int((request.query or {})["job_instance_id"]))))


async def test_a_view_owns_nothing_and_ends_with_its_client(
    server: RecordingServer, make_client: Any
) -> None:
    for _ in range(3):
        server.reply_with(answer)
    client = make_client()
    async with client:
        async with client.as_user("bob") as bob:
            await bob.call("get_job_instance_status", {"job_instance_id": 1})
        await bob.aclose()  # (does nothing)
        await client.call("get_job_instance_status", {"job_instance_id": 2})
        await bob.call("get_job_instance_status", {"job_instance_id": 3})
    assert [r.auth["bk_username"] for r in server.requests] == ["bob", "admin", "bob"]
    with pytest.raises(RuntimeError, match="closed"):
        await bob.call("get_job_instance_status", {"job_instance_id": 4})
    with pytest.raises(RuntimeError, match="closed"):
        client.as_user("carol")
    assert "closed as user 'bob'" in repr(bob)


async def test_a_view_left_open_warns_nothing(server: RecordingServer, make_client: Any) -> None:
    server.reply_with(answer)
    async with make_client() as client:
        view = client.as_user("bob")
        await view.call("get_job_instance_status", {"job_instance_id": 1})
        del view
        gc.collect()  # (warnings are errors here: a ResourceWarning would fail the test)


async def test_token_forms_replace_the_identity_and_stay_masked(
    server: RecordingServer, make_client: Any
) -> None:
    for _ in range(3):
        server.reply_with(answer)
    async with make_client() as client:
        by_token = client.as_user(bk_token=BK_TOKEN)
        by_access = client.as_user(access_token="acc-" + "x" * 20)
        both = by_token.as_user("dora", bk_token=BK_TOKEN)
        for view in (by_token, by_access, both):
            await view.call("get_job_instance_status", {"job_instance_id": 1})
        server.reply(result=False, code=1244006, message=f"no job for token {BK_TOKEN}")
        with pytest.raises(NotFoundError) as caught:
            await by_token.get_job_instance_status(SCOPE, 1)
    assert [r.auth for r in server.requests[:3]] == [
        {"bk_app_code": "my-app", "bk_app_secret": APP_SECRET, "bk_token": BK_TOKEN},
        {"bk_app_code": "my-app", "bk_app_secret": APP_SECRET, "access_token": "acc-" + "x" * 20},
        {
            "bk_app_code": "my-app",
            "bk_app_secret": APP_SECRET,
            "bk_token": BK_TOKEN,
            "bk_username": "dora",
        },
    ]
    assert BK_TOKEN not in str(caught.value)
    assert "***" in str(caught.value)
    for view in (by_token, by_access, both):
        assert BK_TOKEN not in repr(view)
        assert "x" * 20 not in repr(view)
        assert APP_SECRET not in repr(view)
    assert repr(by_token).endswith("as bk_token=***>")
    assert repr(both).endswith("as user 'dora', bk_token=***>")


async def test_a_wrong_identity_is_refused_before_anything_is_sent(make_client: Any) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="no user identity"):
        client.as_user()
    with pytest.raises(TypeError, match="username"):
        client.as_user("")
    with pytest.raises(TypeError, match="username"):
        client.as_user(42)
    with pytest.raises(ValueError, match="language"):
        client.as_user("bob", language="en\r\nX-Evil: 1")


async def test_a_poller_polls_with_the_identity_of_its_client(
    server: RecordingServer, make_client: Any
) -> None:
    server.reply(status(7), times=3)
    async with (
        make_client() as client,
        Poller(client.as_user("watcher"), policy=PollPolicy(interval=0.05)) as poller,
    ):
        with anyio.fail_after(10):
            async for event in poller.watch_jobs(SCOPE, [7]):
                if isinstance(event, JobFinished):
                    break
    assert {r.auth["bk_username"] for r in server.requests} == {"watcher"}


def test_the_sync_client_has_the_same_views() -> None:
    recorder = RecordingServer()
    for _ in range(3):
        recorder.reply_with(answer)
    credentials = {"app_code": "a", "app_secret": APP_SECRET, "username": "admin"}
    with SyncClient("http://bkjob.test", transport=recorder.transport(), **credentials) as client:
        bob = client.as_user("bob", language="zh-cn")
        assert bob.get_job_instance_status(SCOPE, 1).job.job_instance_id == 1
        bob.close()  # (does nothing)
        assert not bob.closed
        client.as_user(bk_token=BK_TOKEN).get_job_instance_status(SCOPE, 1)
        client.get_job_instance_status(SCOPE, 1)
        assert BK_TOKEN not in repr(client.as_user(bk_token=BK_TOKEN))
        with pytest.raises(ValueError, match="no user identity"):
            client.as_user()
    assert bob.closed
    with pytest.raises(RuntimeError, match="closed"):
        bob.get_job_instance_status(SCOPE, 1)
    assert len(recorder.requests) == 3
    auth = [json.loads(r.headers["X-Bkapi-Authorization"]) for r in recorder.requests]
    assert [a.get("bk_username") or a.get("bk_token") for a in auth] == ["bob", BK_TOKEN, "admin"]
    assert [r.headers.get("Blueking-Language") for r in recorder.requests] == ["zh-cn", "en", "en"]
