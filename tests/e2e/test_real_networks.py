"""Real networks (issue 46, point 2): HTTPS with an internal CA, a proxy, mutual TLS.

The simulator serves HTTPS with a certificate of a CA made in the test (``trustme``) and asks
for a client certificate of another; ``ConnectProxy`` is a tiny HTTP ``CONNECT`` proxy on
127.0.0.1 that counts the tunnels it opens. Each way in (the async client, the sync facade, the
command line) reaches the simulator through the proxy with the client certificate; a
certificate that fails ends a watch with ``WatchFailed`` at once, after one handshake.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme
from anyio.from_thread import start_blocking_portal

from bkjob_async import (
    BkJobClient,
    CertificateError,
    JobFinished,
    Poller,
    PollPolicy,
    Scope,
    TransportError,
    WatchFailed,
)
from bkjob_async import sync as bkjob_sync
from bkjob_async._aiohttp import AiohttpTransport
from bkjob_async._protocol import Protocol
from bkjob_async.config import Credentials, Timeouts
from bkjob_async.testing import BkJobSimulator, StepPlan

from ..cli_run import make_env, run
from .conftest import SCOPE
from .test_readme import ROOT, blocks, environment

SECRET = "app-secret-0123456789"
PROXY_PASSWORD = "proxy-pass-0123456789"


class Pki:
    """A server CA and certificate for 127.0.0.1, a client CA and a client certificate."""

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        self.client_ca = trustme.CA()
        self.server = self.ca.issue_cert("127.0.0.1", "localhost")
        self.client = self.client_ca.issue_cert("client@example.com")
        self.wrong_host = self.ca.issue_cert("bkjob.example")
        self.ca_bundle = folder / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_bundle))
        self.client_pem = folder / "client.pem"  # certificate and key in one file
        self.client.private_key_and_cert_chain_pem.write_to_path(str(self.client_pem))
        self.client_cert = folder / "client-cert.pem"
        self.client_key = folder / "client-key.pem"
        self.client.cert_chain_pems[0].write_to_path(str(self.client_cert))
        self.client.private_key_pem.write_to_path(str(self.client_key))

    def server_context(self, *, mutual: bool = True, cert: Any = None) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        (cert or self.server).configure_cert(context)
        if mutual:
            self.client_ca.configure_trust(context)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


class ConnectProxy:
    """An HTTP proxy that only tunnels (``CONNECT``), on 127.0.0.1, port 0.

    ``tunnels`` lists each target it connected to; with ``password`` it asks for Basic auth
    (407 without it) and ``authorized`` counts the tunnels that gave it.
    """

    def __init__(self, password: str | None = None) -> None:
        self.password = password
        self.tunnels: list[str] = []
        self.refused = 0
        self.url = ""

    async def __aenter__(self) -> ConnectProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            if self.password is not None:
                import base64

                token = base64.b64encode(f"user:{self.password}".encode()).decode()
                if f"proxy-authorization: basic {token}".lower() not in head.lower():
                    self.refused += 1
                    writer.write(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                        b"Proxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n"
                    )
                    return
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            self.tunnels.append(target)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def _client(url: str, **options: Any) -> BkJobClient:
    return BkJobClient(url, app_code="app", app_secret=SECRET, username="admin", **options)


async def test_the_async_client_reaches_https_through_a_proxy_with_a_client_certificate(
    pki: Pki,
) -> None:
    async with (
        BkJobSimulator(ssl=pki.server_context(), host_duration=(0.05, 0.1)) as sim,
        ConnectProxy() as proxy,
    ):
        assert sim.url.startswith("https://127.0.0.1:")
        job = sim.create_job(SCOPE, [StepPlan(hosts=2)])
        for cert in (str(pki.client_pem), (pki.client_cert, pki.client_key)):
            options = {"ssl": str(pki.ca_bundle), "client_cert": cert, "proxy": proxy.url}
            async with _client(sim.url, **options) as client:
                status = await client.get_job_instance_status(SCOPE, job)
                assert status.job.job_instance_id == job
        assert len(proxy.tunnels) == 2
        assert proxy.tunnels[0] == sim.url.removeprefix("https://")
        # An SSLContext of the caller's own does the same.
        context = ssl.create_default_context(cafile=str(pki.ca_bundle))
        context.load_cert_chain(str(pki.client_pem))
        async with _client(sim.url, ssl=context, proxy=proxy.url) as client:
            assert (await client.get_job_instance_status(SCOPE, job)).job.job_instance_id == job
        assert len(proxy.tunnels) == 3


async def test_a_proxy_password_is_used_and_never_shown(pki: Pki) -> None:
    async with (
        BkJobSimulator(ssl=pki.server_context(mutual=False)) as sim,
        ConnectProxy(password=PROXY_PASSWORD) as proxy,
    ):
        job = sim.create_job(SCOPE, [StepPlan(hosts=1)])
        url = proxy.url.replace("http://", f"http://user:{PROXY_PASSWORD}@")
        async with _client(sim.url, ssl=str(pki.ca_bundle), proxy=url) as client:
            assert (await client.get_job_instance_status(SCOPE, job)).job.job_instance_id == job
            assert PROXY_PASSWORD not in repr(client)
        bad = proxy.url.replace("http://", "http://user:wrong-password-0123@")
        async with _client(sim.url, ssl=str(pki.ca_bundle), proxy=bad) as client:
            with pytest.raises(TransportError) as caught:
                await client.get_job_instance_status(SCOPE, job)
        assert "wrong-password-0123" not in str(caught.value)
        assert proxy.refused >= 1


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("unknown CA", "did not verify"),
        ("wrong host", "did not verify"),
    ],
)
async def test_a_certificate_that_fails_ends_a_watch_at_once_after_one_handshake(
    pki: Pki, case: str, error: str
) -> None:
    server = pki.server_context(cert=pki.wrong_host if case == "wrong host" else None)
    options: dict[str, Any] = {"ssl": str(pki.ca_bundle), "client_cert": str(pki.client_pem)}
    if case == "unknown CA":
        options = {"client_cert": str(pki.client_pem)}  # the system's CAs only
    async with BkJobSimulator(ssl=server) as sim, ConnectProxy() as proxy:
        job = sim.create_job(SCOPE, [StepPlan(hosts=1)])
        events: list[Any] = []
        started = time.monotonic()
        async with (
            _client(sim.url, proxy=proxy.url, **options) as client,
            Poller(client, policy=PollPolicy(interval=0.5)) as poller,
        ):
            with anyio.fail_after(30):
                async for event in poller.watch_jobs(SCOPE, [job]):
                    events.append(event)
        took = time.monotonic() - started
    assert isinstance(events[-1], WatchFailed), events
    failure = events[-1].error
    assert isinstance(failure, CertificateError)
    assert error in str(failure)
    assert "127.0.0.1" in str(failure)  # which host
    assert len(proxy.tunnels) == 1  # one handshake: not retried
    assert took < 10  # at once (a retried failure would back off for tens of seconds)
    assert not [e for e in events if isinstance(e, JobFinished)]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"ssl": None}, TypeError, "ssl must be"),
        ({"ssl": 0}, TypeError, "ssl must be"),
        ({"ssl": ""}, ValueError, "cannot be empty"),
        ({"ssl": "/nonexistent/ca.pem"}, ValueError, "cannot read the CA bundle"),
        ({"client_cert": "/nonexistent/c.pem"}, ValueError, "cannot load the certificate"),
        ({"client_cert": 5}, TypeError, "client_cert must be"),
        ({"proxy": "socks5://127.0.0.1:1080"}, ValueError, "http://"),
        ({"proxy": 3128}, TypeError, "proxy must be"),
        ({"trust_env": 1}, TypeError, "trust_env must be a bool"),
        ({"ssl": ssl.create_default_context(), "client_cert": "c.pem"}, ValueError, "SSLContext"),
    ],
)
def test_bad_network_options_are_refused_at_construction(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        _client("https://bkjob.example", **options)


def test_network_options_and_a_session_or_transport_do_not_mix(pki: Pki) -> None:
    with pytest.raises(ValueError, match="built-in transport"):
        _client("https://x", proxy="http://p:3128", transport=AiohttpTransport(timeouts=Timeouts()))


@pytest.fixture
def served_https(pki: Pki) -> Iterator[tuple[Any, BkJobSimulator, ConnectProxy]]:
    """The HTTPS simulator and the proxy, on a loop in a thread of their own (for sync code)."""
    with start_blocking_portal() as portal:
        sim = BkJobSimulator(ssl=pki.server_context(), host_duration=(0.05, 0.1))
        proxy = ConnectProxy()
        portal.call(sim.__aenter__)
        portal.call(proxy.__aenter__)
        try:
            yield portal, sim, proxy
        finally:
            portal.call(proxy.__aexit__, None, None, None)
            portal.call(sim.__aexit__, None, None, None)


def test_the_sync_facade_reaches_https_through_a_proxy_with_a_client_certificate(
    pki: Pki, served_https: tuple[Any, BkJobSimulator, ConnectProxy]
) -> None:
    portal, sim, proxy = served_https
    job = portal.call(lambda: sim.create_job(SCOPE, [StepPlan(hosts=1)]))
    options = {"ssl": str(pki.ca_bundle), "client_cert": str(pki.client_pem), "proxy": proxy.url}
    with bkjob_sync.BkJobClient(
        sim.url, app_code="app", app_secret=SECRET, username="admin", **options
    ) as client:
        assert client.get_job_instance_status(SCOPE, job).job.job_instance_id == job
    assert len(proxy.tunnels) == 1


def test_the_sync_facade_takes_proxy_and_ca_bundle_from_the_environment(
    pki: Pki,
    served_https: tuple[Any, BkJobSimulator, ConnectProxy],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As a Django or Celery app configured for requests: ``HTTPS_PROXY`` and
    ``REQUESTS_CA_BUNDLE``, with ``trust_env=True``."""
    portal, sim, proxy = served_https
    job = portal.call(lambda: sim.create_job(SCOPE, [StepPlan(hosts=1)]))
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_bundle))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with bkjob_sync.BkJobClient(
        sim.url,
        app_code="app",
        app_secret=SECRET,
        username="admin",
        client_cert=str(pki.client_pem),
        trust_env=True,
    ) as client:
        assert client.get_job_instance_status(SCOPE, job).job.job_instance_id == job
    assert len(proxy.tunnels) == 1


async def test_the_command_line_reaches_https_through_a_proxy_with_a_client_certificate(
    pki: Pki,
) -> None:
    async with (
        BkJobSimulator(ssl=pki.server_context(), host_duration=(0.05, 0.1)) as sim,
        ConnectProxy() as proxy,
    ):
        job = sim.create_job(SCOPE, [StepPlan(hosts=1)])
        flags = ["--ca-bundle", str(pki.ca_bundle), "--proxy", proxy.url]
        flags += ["--client-cert", str(pki.client_cert), "--client-key", str(pki.client_key)]
        result = await run(["status", str(job), *flags], make_env(sim.url))
        assert result.status in (0, 1), result.err
        assert f"job {job}" in result.out
        assert len(proxy.tunnels) == 1
        # The same from the environment; and without the CA bundle, a clear failure, exit 2.
        env = make_env(
            sim.url,
            BKJOB_CA_BUNDLE=str(pki.ca_bundle),
            BKJOB_CLIENT_CERT=str(pki.client_pem),
            BKJOB_PROXY=proxy.url,
        )
        result = await run(["status", str(job)], env)
        assert f"job {job}" in result.out, result.err
        result = await run(
            ["status", str(job), "--client-cert", str(pki.client_pem)], make_env(sim.url)
        )
        assert result.status == 2
        assert "TLS failed with https://127.0.0.1" in result.err
        assert "--ca-bundle" in result.err
        result = await run(
            ["status", str(job), "--ca-bundle", "/nonexistent.pem"], make_env(sim.url)
        )
        assert result.status == 2
        assert "cannot read the CA bundle" in result.err


PAGE = ROOT / "docs" / "howto" / "tls-and-proxies.md"


async def test_the_how_to_page_tls_and_proxies_md_runs_as_printed(pki: Pki) -> None:
    """Every block of ``docs/howto/tls-and-proxies.md``, its paths and proxy replaced by the
    test's, against an HTTPS simulator asking for a client certificate (one that does not
    for the block without one), through the test's proxy."""
    found = [b for b in blocks(PAGE) if b.lang in ("python", "sh")]
    assert len(found) == 4
    async with (
        BkJobSimulator(ssl=pki.server_context(), host_duration=(0.05, 0.1)) as mutual,
        BkJobSimulator(ssl=pki.server_context(mutual=False), host_duration=(0.05, 0.1)) as plain,
        ConnectProxy() as proxy,
    ):
        for sim in (mutual, plain):
            assert sim.create_job(SCOPE, [StepPlan(hosts=1)]) == 10001
        paths = {
            "/etc/pki/bkjob/internal-ca.pem": pki.ca_bundle,
            "/etc/pki/bkjob/client-cert.pem": pki.client_cert,
            "/etc/pki/bkjob/client.key": pki.client_key,
            "/etc/pki/bkjob/client.pem": pki.client_pem,
            "http://proxy.internal:3128": proxy.url,
        }
        for block in found:
            body = block.body
            for printed, real in paths.items():
                body = body.replace(printed, str(real))
            sim = mutual if "client_cert" in body or "--client-cert" in body else plain
            env = {
                **{k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
                **environment(sim.url),
                "HTTPS_PROXY": proxy.url,
                "REQUESTS_CA_BUNDLE": str(pki.ca_bundle),
            }
            argv = [sys.executable, "-c", body] if block.lang == "python" else ["bash", "-c", body]
            with anyio.fail_after(60):
                done = await anyio.run_process(argv, env=env, check=False)
            out, err = done.stdout.decode(), done.stderr.decode()
            assert done.returncode == 0, f"{block}: {err}"
            assert "10001" in out, f"{block}: {out}"
    assert len(proxy.tunnels) >= 3  # the blocks with a proxy, and the one from HTTPS_PROXY


async def test_a_failed_request_keeps_a_cause_without_frames() -> None:
    """The frames of aiohttp's traceback hold the request headers as locals (a crash reporter
    that captures locals would show them): the cause kept has none."""
    transport = AiohttpTransport(timeouts=Timeouts(connect=2.0, total=5.0))
    protocol = Protocol(
        "http://127.0.0.1:9", flavor="apigw-v3", credentials=Credentials("a", SECRET, username="u")
    )
    request = protocol.build("get_job_instance_status", Scope.biz(1), 1)
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
