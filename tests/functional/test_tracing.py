"""OpenTelemetry spans (issue 40, point 2), recorded with the SDK's in-memory exporter.

One span per API call (``bkjob <api>``) covering its retries, the parent of what the transport
does meanwhile; a short span per poll round; no secret anywhere in any span. The provider is
given to the package by patching ``opentelemetry.trace.get_tracer_provider`` (the global one
can be set once per process): the package asks for it on every call, as it does for the global.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bkjob_async import (
    Account,
    ApiError,
    BkJobClient,
    GlobalVar,
    JobFinished,
    Poller,
    PollPolicy,
    RetryPolicy,
    Scope,
    Targets,
    _tracing,
)
from bkjob_async.testing import BkJobSimulator, Fault, MockTransport, PlanVar, StepPlan
from tests.child import run_python

SCOPE = Scope.biz(2)
APP_SECRET = "app-Secret-8c1f0e2d"
BK_TOKEN = "bk-Token-77aa91c3"
ACCESS_TOKEN = "access-Token-5e6d4c3b"
PASSWORD = "db-Password-0f9e8d7c"
SECRETS = (APP_SECRET, BK_TOKEN, ACCESS_TOKEN, PASSWORD)


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    yield exporter
    provider.shutdown()


def _client(sim: BkJobSimulator, transport: Any = None, **options: Any) -> BkJobClient:
    options.setdefault("retry", RetryPolicy(base_delay=0.01, max_delay=0.02))
    return BkJobClient(
        "http://bkjob.test",
        transport=transport or sim.transport(),
        app_code="app",
        app_secret=APP_SECRET,
        username="admin",
        **options,
    )


def _named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


async def test_one_span_per_call_named_after_the_api(spans: InMemorySpanExporter) -> None:
    sim = BkJobSimulator(host_duration=0.05)
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    async with _client(sim) as client:
        status = await client.get_job_instance_status(SCOPE, job_id)
        step_id = status.steps[0].step_instance_id
        await client.get_job_instance_ip_log(SCOPE, job_id, step_id, status.steps[0].hosts[0].host)
    (call,) = _named(spans, "bkjob get_job_instance_status")
    assert call.kind is SpanKind.CLIENT
    assert dict(call.attributes or {}) == {
        "bkjob.flavor": "apigw-v3",
        "http.request.method": "GET",
        "bkjob.scope": "biz:2",
        "bkjob.job_instance_id": job_id,
        "bkjob.retries": 0,
    }
    assert call.status.status_code is StatusCode.UNSET
    (log,) = _named(spans, "bkjob get_job_instance_ip_log")
    assert log.attributes is not None
    assert log.attributes["bkjob.step_instance_id"] == step_id
    assert log.attributes["bkjob.job_instance_id"] == job_id


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3", "esb-v2"])
async def test_a_launch_span_on_every_flavor(spans: InMemorySpanExporter, flavor: str) -> None:
    sim = BkJobSimulator()
    async with _client(sim, flavor=flavor) as client:
        launched = await client.fast_execute_script(
            SCOPE,
            targets=Targets(ips=["0:10.0.0.1"]),
            account=Account(alias="root"),
            script_content="echo hi",
        )
    (launch,) = _named(spans, "bkjob fast_execute_script")
    assert launch.attributes is not None
    assert launch.attributes["bkjob.flavor"] == flavor
    assert launch.attributes["bkjob.scope"] == "biz:2"
    assert launch.attributes["http.request.method"] == "POST"
    # Known once bk-job answers: the new job's id.
    assert launch.attributes["bkjob.job_instance_id"] == launched.job_instance_id


async def test_retries_are_inside_the_one_span(spans: InMemorySpanExporter) -> None:
    sim = BkJobSimulator()
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    sim.inject(Fault.http_status(503), times=2)
    async with _client(sim) as client:
        await client.get_job_instance_status(SCOPE, job_id)
    (call,) = spans.get_finished_spans()
    assert call.attributes is not None
    assert call.attributes["bkjob.retries"] == 2
    assert [e.name for e in call.events] == ["retry", "retry"]
    assert [dict(e.attributes or {})["bkjob.attempt"] for e in call.events] == [1, 2]
    assert "error.type" not in call.attributes  # it succeeded in the end


async def test_a_failure_says_its_type(spans: InMemorySpanExporter) -> None:
    sim = BkJobSimulator()
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    sim.inject(Fault.business_error(1240002), times=None)
    async with _client(sim) as client:
        with pytest.raises(ApiError) as caught:
            await client.get_job_instance_status(SCOPE, job_id)
    (call,) = spans.get_finished_spans()
    assert call.attributes is not None
    assert call.attributes["error.type"] == type(caught.value).__name__
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description is None  # (a message may quote the server: never kept)
    assert not [e for e in call.events if e.name == "exception"]


async def test_the_transports_own_spans_are_children_of_the_call(
    spans: InMemorySpanExporter,
) -> None:
    """As aiohttp's spans are when the user instruments it: one per attempt, under the call."""
    sim = BkJobSimulator()
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    inner = sim.transport()
    tracer = trace.get_tracer("instrumented-http")

    async def send(request: Any) -> Any:
        with tracer.start_as_current_span("HTTP GET"):
            return await inner.send(request)

    sim.inject(Fault.http_status(502))
    async with _client(sim, transport=MockTransport(send)) as client:
        await client.get_job_instance_status(SCOPE, job_id)
    (call,) = _named(spans, "bkjob get_job_instance_status")
    attempts = _named(spans, "HTTP GET")
    assert len(attempts) == 2
    for attempt in attempts:
        assert attempt.parent is not None
        assert attempt.parent.span_id == call.context.span_id
        assert attempt.context.trace_id == call.context.trace_id


async def test_poll_rounds_are_short_spans_with_counts(spans: InMemorySpanExporter) -> None:
    sim = BkJobSimulator(host_duration=(0.05, 0.3), host_start_delay=0.0, operation_lag=0.0)
    ids = [sim.create_job(SCOPE, [StepPlan(hosts=3)]) for _ in range(4)]
    sim.inject(Fault.http_status(500), api="get_job_instance_status", times=2)
    policy = PollPolicy(interval=0.05, max_interval=0.1, latency=None)
    async with (
        _client(sim, retry=RetryPolicy(max_attempts=1)) as client,
        Poller(client, policy=policy) as poller,
    ):
        finished = 0
        async for event in poller.watch_jobs(SCOPE, ids):
            if isinstance(event, JobFinished):
                finished += 1
                if finished == len(ids):
                    break
    rounds = _named(spans, "bkjob poll round")
    assert rounds
    assert not [s for s in spans.get_finished_spans() if s.name.startswith("bkjob get_")]
    polls = sum(int((s.attributes or {})["bkjob.polls"]) for s in rounds)
    changed = sum(int((s.attributes or {})["bkjob.changed"]) for s in rounds)
    failed = sum(int((s.attributes or {})["bkjob.failed"]) for s in rounds)
    assert failed == 2
    # Each job's end is one poll of its own, and a failed poll is a poll too: a loaded machine
    # may read a job first when its hosts (0.05-0.3 s) are already done (six, not eight).
    assert polls >= len(ids) + failed
    assert 0 < changed <= polls
    for span in rounds:
        assert span.end_time is not None
        assert span.start_time is not None
        assert span.end_time - span.start_time <= _tracing._ROUND_NS + 200_000_000


def _every_text(span: ReadableSpan) -> list[str]:
    texts = [span.name, str(span.status.description or "")]
    texts += [f"{k}={v}" for k, v in (span.attributes or {}).items()]
    for event in span.events:
        texts.append(event.name)
        texts += [f"{k}={v}" for k, v in (event.attributes or {}).items()]
    texts += [f"{k}={v}" for k, v in span.resource.attributes.items()]
    return texts


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3", "esb-v2"])
async def test_no_secret_in_any_span(spans: InMemorySpanExporter, flavor: str) -> None:
    sim = BkJobSimulator(virtual_clock=True)
    sim.add_plan(7, [StepPlan(hosts=1)], variables=[PlanVar("db_password", "x", type=4)])
    job_id = sim.create_job(SCOPE, [StepPlan(hosts=1)])
    # An error page that echoes every secret back, for the calls that fail.
    echo = " ".join(SECRETS)
    sim.inject(Fault.http_status(500, body=f"<html>{echo}</html>"), times=2)
    tokens = {"bk_token": BK_TOKEN, "access_token": ACCESS_TOKEN}
    async with _client(sim, flavor=flavor, **tokens) as client:
        await client.get_job_instance_status(SCOPE, job_id)
        await client.execute_job_plan(
            SCOPE, 7, global_vars=[GlobalVar.password("db_password", PASSWORD)]
        )
        await client.fast_execute_script(
            SCOPE,
            targets=Targets(ips=["0:10.0.0.1"]),
            account=Account(alias="root"),
            script_content=f"echo {PASSWORD}",
            script_param=PASSWORD,
            is_param_sensitive=True,
        )
        sim.inject(Fault.business_error(1240002, f"denied: {echo}"), times=None)
        with pytest.raises(ApiError):
            await client.get_job_instance_status(SCOPE, job_id)
    recorded = spans.get_finished_spans()
    assert len(recorded) == 4
    texts = [text for span in recorded for text in _every_text(span)]
    assert any("bkjob.retries=2" in text for text in texts)  # the echoing failures were seen
    for secret in SECRETS:
        assert not [text for text in texts if secret in text], secret


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return run_python(code, timeout=120)


def test_no_provider_set_means_no_tracer() -> None:
    done = _run(
        """
        import opentelemetry.trace
        from bkjob_async import _tracing
        from bkjob_async.polling import _driver
        assert _tracing.tracer() is None
        assert _tracing.poll_rounds() is None
        print("off")
        """
    )
    assert done.stdout.strip() == "off", done.stderr


def test_the_core_imports_and_runs_without_opentelemetry_or_orjson() -> None:
    done = _run(
        """
        import importlib.abc, sys

        class Blocked(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("opentelemetry", "orjson"):
                    raise ImportError(f"{name} is blocked")
                return None

        sys.meta_path.insert(0, Blocked())
        import anyio
        import bkjob_async, bkjob_async.polling, bkjob_async._json, bkjob_async._tracing
        from bkjob_async.testing import BkJobSimulator, StepPlan

        async def main():
            sim = BkJobSimulator()
            job = sim.create_job(bkjob_async.Scope.biz(2), [StepPlan(hosts=1)])
            async with bkjob_async.BkJobClient(
                "http://x.test", transport=sim.transport(), app_code="a", app_secret="s",
                username="u",
            ) as client:
                await client.get_job_instance_status(bkjob_async.Scope.biz(2), job)
                async with bkjob_async.Poller(client) as poller:
                    await poller.wait_finished(bkjob_async.Scope.biz(2), job)

        anyio.run(main)
        assert bkjob_async._tracing.tracer() is None
        assert not bkjob_async._json.speedups()
        assert not [m for m in sys.modules if m.split(".")[0] in ("opentelemetry", "orjson")]
        print("ok")
        """
    )
    assert done.stdout.strip() == "ok", done.stderr
