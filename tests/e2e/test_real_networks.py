"""Real networks (issue 46): what the transport keeps of a failed request."""

from __future__ import annotations

import traceback

import pytest

from bkjob_async import Scope, TransportError
from bkjob_async._aiohttp import AiohttpTransport
from bkjob_async._protocol import Protocol
from bkjob_async.config import Credentials, Timeouts

SECRET = "app-secret-0123456789"


async def test_a_failed_request_keeps_a_cause_without_frames() -> None:
    """The frames of aiohttp's traceback hold the request headers as locals (a crash reporter
    that captures locals would show them): the cause kept has none."""
    transport = AiohttpTransport(timeouts=Timeouts(connect=2.0, total=5.0))
    protocol = Protocol(
        "http://127.0.0.1:9", flavor="apigw-v3", credentials=Credentials("a", SECRET, username="u")
    )
    request = protocol.job_instance_status(Scope.biz(1), 1)
    try:
        with pytest.raises(TransportError) as caught:
            await transport.send(request)
    finally:
        await transport.aclose()
    cause = caught.value.__cause__
    assert cause is not None
    assert cause.__traceback__ is None
    shown = "".join(
        traceback.TracebackException.from_exception(caught.value, capture_locals=True).format()
    )
    assert SECRET not in shown
