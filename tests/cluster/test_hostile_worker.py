"""A ``bkjob-async worker`` process survives hostile answers (issue 46, point 1).

Before, an answer nested 600 deep ended the worker with a 3,000-line traceback, and each
worker that took the job over read the same answer. Here a proxy in front of the simulator
serves such answers for some jobs: the worker process stays up and the other jobs finish.
A refusal nested just within ``_json.MAX_DEPTH`` ends its job's watch at once (bk-job's
permission error, read and masked); an answer nested past it is refused unread, and the second
in a row ends that job's watch with ``WatchFailed`` (``ResponseRefusedError``) in the watch's
stream, within seconds, so no other worker reads it again (issue 61; before, ten such answers
took a minute and more).
"""

from __future__ import annotations

import anyio
import pytest
from aiohttp import ClientSession, web

from bkjob_async import (
    JobFinished,
    PermissionDeniedError,
    ResponseRefusedError,
    Scope,
    WatchFailed,
)
from bkjob_async.testing import BkJobSimulator, StepPlan

from ..child import Child
from .chains import stream_events

SCOPE = Scope.biz(2)
ENV = {"BKJOB_APP_CODE": "app", "BKJOB_APP_SECRET": "s3cret-worker", "BKJOB_USERNAME": "admin"}
DEEP_PERMISSION = (
    b'{"result":false,"code":9900403,"message":"denied","permission":{"system_id":"bk_job",'
    b'"actions":' + b"[" * 600 + b"1" + b"]" * 600 + b"}}"
)
AT_THE_LIMIT = (
    b'{"result":false,"code":9900403,"message":"denied","permission":{"system_id":"bk_job",'
    b'"actions":' + b"[" * 90 + b'"s3cret-worker"' + b"]" * 90 + b"}}"
)
DEEP_REQUEST_ID = (
    b'{"result":false,"code":1240001,"message":"x","request_id":' + b"[" * 990 + b"]" * 990 + b"}"
)


class HostileProxy:
    """Forwards to the simulator; the status polls of ``bad`` jobs get a hostile answer."""

    def __init__(self, upstream: str, bad: dict[int, bytes]) -> None:
        self.upstream, self.bad = upstream.rstrip("/"), bad
        self.served = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        job = request.query.get("job_instance_id")
        if "get_job_instance_status" in request.path and job and int(job) in self.bad:
            self.served += 1
            return web.Response(body=self.bad[int(job)], content_type="application/json")
        async with self.session.request(
            request.method,
            self.upstream + request.path_qs,
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            data=await request.read(),
        ) as answer:
            return web.Response(
                status=answer.status, body=await answer.read(), content_type="application/json"
            )

    async def __aenter__(self) -> HostileProxy:
        self.session = ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()
        await self.session.close()


@pytest.mark.timeout(180)
async def test_a_worker_process_survives_hostile_answers(make_cluster, redis_server):
    cluster = make_cluster(name="hostile", partitions=128)
    async with BkJobSimulator(seed=3, host_duration=(0.2, 0.8)) as sim:
        ids = [sim.create_job(SCOPE, [StepPlan(hosts=2)]) for _ in range(30)]
        kinds = [DEEP_PERMISSION, DEEP_REQUEST_ID, AT_THE_LIMIT]
        bad = {ids[i]: kinds[i // 6 % 3] for i in range(0, 30, 6)}
        deep = {job for job, body in bad.items() if body is not AT_THE_LIMIT}
        async with HostileProxy(sim.url, bad) as proxy:
            await cluster.submit(SCOPE, ids, watch="deploys")
            argv = ["-m", "bkjob_async.cli", "worker", "--redis", redis_server.url]
            argv += ["--cluster", "hostile", "--url", proxy.url, "--interval", "0.2"]
            argv += ["--max-interval", "0.4", "--report-every", "0.5"]
            with Child(argv, env=ENV) as worker:
                ends: dict[int, object] = {}
                with anyio.fail_after(150):
                    while len(ends) < len(ids):
                        assert worker.alive, "\n".join(worker.err)
                        events = await stream_events(cluster, "deploys")
                        ends = {
                            e.job_instance_id: e
                            for e in events
                            if isinstance(e, (JobFinished, WatchFailed))
                        }
                        await anyio.sleep(0.2)
                await anyio.sleep(0.5)
                assert worker.alive, "\n".join(worker.err)
                err = "\n".join(worker.err)
    for job_id in ids:
        end = ends.get(job_id)
        if job_id in deep:
            assert isinstance(end, WatchFailed), end
            assert isinstance(end.error, ResponseRefusedError), end.error
        elif job_id in bad:
            assert isinstance(end, WatchFailed), end
            assert isinstance(end.error, PermissionDeniedError), end.error
            assert ENV["BKJOB_APP_SECRET"] not in str(end.error.permission)
        else:
            assert isinstance(end, JobFinished), end
            assert end.status == sim.job(job_id).status
    assert proxy.served == 2 * len(deep) + len(bad) - len(deep)  # read twice, never again
    assert "Traceback" not in err, err
    assert "RecursionError" not in err
    assert ENV["BKJOB_APP_SECRET"] not in err
