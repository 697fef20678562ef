"""Who the dashboard answers (issue 65, points 4 and 5): its host names, its login, its assets.

A dashboard under a prefix of a user's aiohttp app on 127.0.0.1 (``test_dashboard_app``'s).
Checked: a request naming another host (DNS rebinding) is refused on every route; an allowed
name, a domain's subdomain and ``*`` are answered; with ``BasicLogin`` or ``HeaderLogin`` no
page, asset, API or stream answers without a login, and a wrong one is refused; a proxy's
header is believed only from its address; assets are named by their content's hash, cached for
good and gzipped; ``bkjob-async dashboard`` warns when it listens beyond loopback without a
login, and its ``--login basic`` asks for one. The shell block of ``docs/howto/dashboard.md``
that serves beyond loopback with a host name and a login runs here, as printed.
"""

from __future__ import annotations

import base64
import gzip
import io
import pathlib
import re
import shlex

import aiohttp
import anyio
import pytest

from bkjob_async.cli import amain
from bkjob_async.testing import BkJobSimulator, StepPlan
from bkjob_async.web import BasicLogin, HeaderLogin, dashboard_app
from bkjob_async.web._static import ASSETS

from .test_dashboard_app import PREFIX, SCOPE, SECRET, TOKEN, dashboard
from .test_readme import blocks

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "howto" / "dashboard.md"
ROUTES = ("", "jobs", "feed", "failed", "api/overview", "api/jobs", "api/failed")


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def _status(http: aiohttp.ClientSession, url: str, **headers: str) -> int:
    async with http.get(url, headers=headers, allow_redirects=False) as answer:
        return answer.status


@pytest.mark.sim(host_duration=(30.0, 30.0), apps={"dash": SECRET})
async def test_a_foreign_host_name_is_refused_on_every_route(sim: BkJobSimulator) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    js = ASSETS["dashboard.js"].hashed
    paths = (*ROUTES, f"job/biz:2/{job}", f"api/job/biz:2/{job}", f"static/{js}", "api/stream")
    async with (
        dashboard(sim) as (url, poller, _),
        poller.watch_jobs(SCOPE, [job]),
        aiohttp.ClientSession() as http,
    ):
        port = url.split(":")[2].split("/")[0]
        for path in paths:
            if path == "api/stream":
                continue  # (answered below: it would stream)
            assert await _status(http, url + path) == 200, path
            assert await _status(http, url + path, Host=f"localhost:{port}") == 200, path
            assert await _status(http, url + path, Host=f"[::1]:{port}") == 200, path
        for path in paths:
            for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
                assert await _status(http, url + path, Host=host) == 403, (path, host)
        async with http.post(
            url + f"api/job/biz:2/{job}/terminate",
            json={},
            headers={"Host": "evil.example", "X-Dashboard-Token": TOKEN},
        ) as answer:
            assert answer.status == 403
        assert sim.job(job).status.name == "RUNNING"
    # Named hosts, a domain and its subdomains, any.
    for allowed, host, status in (
        (["dash.example.com"], "dash.example.com", 200),
        (["dash.example.com"], "DASH.example.com:8443", 200),
        (["dash.example.com"], "other.example.com", 403),
        ([".example.com"], "a.b.example.com", 200),
        ([".example.com"], "example.com", 200),
        ([".example.com"], "example.com.evil", 403),
        (["*"], "anything.example", 200),
    ):
        async with (
            dashboard(sim, allowed_hosts=allowed) as (url, _, _),
            aiohttp.ClientSession() as http,
        ):
            assert await _status(http, url + "api/overview", Host=host) == status, (allowed, host)
            # The loopback names are not implied once others are given.
            if allowed != ["*"]:
                assert await _status(http, url + "api/overview") == 403
    for bad in ([], [""], ["http://dash.example.com/"]):
        with pytest.raises(ValueError, match="allowed_hosts"):
            dashboard_app(object.__new__(type(poller)), allowed_hosts=bad)


@pytest.mark.sim(host_duration=(30.0, 30.0), apps={"dash": SECRET})
async def test_with_a_login_nothing_answers_without_one(sim: BkJobSimulator) -> None:
    job = sim.create_job(SCOPE, [StepPlan(hosts=2)])
    login = BasicLogin({"ops": "correct horse battery"})
    assert "correct horse" not in repr(login)
    js = ASSETS["dashboard.js"].hashed
    paths = (*ROUTES, f"job/biz:2/{job}", f"api/job/biz:2/{job}", f"static/{js}", "api/stream")
    async with (
        dashboard(sim, login=login, allow_operations=True, token=TOKEN) as (url, poller, _),
        poller.watch_jobs(SCOPE, [job]),
        aiohttp.ClientSession() as http,
    ):
        for path in paths:
            async with http.get(url + path) as answer:
                assert answer.status == 401, path
                assert answer.headers["WWW-Authenticate"].startswith('Basic realm="')
                assert "Content-Security-Policy" in answer.headers
            for wrong in (_basic("ops", "wrong"), _basic("root", "correct horse battery")):
                assert await _status(http, url + path, **wrong) == 401, path
            assert await _status(http, url + path, Authorization="Basic !!!") == 401
        for path in paths[:-1]:
            assert await _status(http, url + path, **_basic("ops", "correct horse battery")) == 200
        async with http.get(
            url + "api/stream", headers=_basic("ops", "correct horse battery")
        ) as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"] == "text/event-stream"
        # An operation: the login first, then the token.
        target = url + f"api/job/biz:2/{job}/terminate"
        async with http.post(target, json={}, headers={"X-Dashboard-Token": TOKEN}) as answer:
            assert answer.status == 401
        assert sim.job(job).status.name == "RUNNING"
        ok = {**_basic("ops", "correct horse battery"), "X-Dashboard-Token": TOKEN}
        async with http.post(target, json={}, headers=ok) as answer:
            assert answer.status == 200


@pytest.mark.sim(host_duration=(30.0, 30.0), apps={"dash": SECRET})
async def test_a_proxys_header_is_believed_only_from_the_proxy(sim: BkJobSimulator) -> None:
    for trusted, status in ((("127.0.0.1",), 200), (("10.9.9.9",), 401)):
        async with (
            dashboard(sim, login=HeaderLogin("X-Forwarded-User", trusted=trusted)) as (url, _, _),
            aiohttp.ClientSession() as http,
        ):
            assert await _status(http, url + "api/overview") == 401
            assert await _status(http, url + "api/overview", **{"X-Forwarded-User": ""}) == 401
            got = await _status(http, url + "api/overview", **{"X-Forwarded-User": "alice"})
            assert got == status, trusted
    with pytest.raises(ValueError, match="header"):
        HeaderLogin("X Forwarded")
    with pytest.raises(ValueError, match="password"):
        BasicLogin({"ops": ""})


@pytest.mark.sim(host_duration=(30.0, 30.0), apps={"dash": SECRET})
async def test_assets_are_named_by_their_hash_cached_for_good_and_gzipped(
    sim: BkJobSimulator,
) -> None:
    async with dashboard(sim) as (url, _, _), aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(url) as answer:
            page = await answer.text()
        for name, asset in ASSETS.items():
            assert f'"{PREFIX}static/{asset.hashed}"' in page
            assert re.fullmatch(r"dashboard\.[0-9a-f]{12}\.(js|css)", asset.hashed)
            hashed = url + "static/" + asset.hashed
            async with http.get(hashed, headers={"Accept-Encoding": "gzip, br"}) as answer:
                assert answer.status == 200
                assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
                assert answer.headers["Content-Encoding"] == "gzip"
                assert answer.headers["Vary"] == "Accept-Encoding"
                packed = await answer.read()
            assert gzip.decompress(packed) == asset.body
            assert len(packed) < len(asset.body) / 2
            async with http.get(hashed, headers={"Accept-Encoding": "identity"}) as answer:
                assert "Content-Encoding" not in answer.headers
                assert await answer.read() == asset.body
            # The plain name answers too, revalidated each time.
            async with http.get(url + "static/" + name) as answer:
                assert answer.headers["Cache-Control"] == "no-cache"
                etag = answer.headers["ETag"]
            async with http.get(url + "static/" + name, headers={"If-None-Match": etag}) as a:
                assert a.status == 304
        async with http.get(url + "static/nothing.js") as answer:
            assert answer.status == 404
        # The pages and the API are never cached.
        async with http.get(url + "api/overview") as answer:
            assert answer.headers["Cache-Control"] == "no-store"


async def _serve(argv: list[str], env: dict[str, str]) -> tuple[str, str]:
    """Run ``bkjob-async dashboard`` until it printed its URL; return (its stderr, the URL)."""
    err = io.StringIO()
    interrupt = anyio.Event()
    async with anyio.create_task_group() as tg:

        async def main() -> None:
            await amain(argv, stdout=io.StringIO(), stderr=err, env=env, interrupt=interrupt)

        tg.start_soon(main)
        with anyio.fail_after(30):
            while "http://" not in err.getvalue() and "bkjob-async" not in err.getvalue():
                await anyio.sleep(0.05)
        found = re.search(r"http://[^ ]+/", err.getvalue())
        status = None
        if found:
            async with aiohttp.ClientSession() as http:
                status = await _status(http, found[0] + "api/overview")
        interrupt.set()
    return err.getvalue(), str(status)


async def test_the_command_warns_beyond_loopback_without_a_login_and_asks_for_one() -> None:
    simulate = ["dashboard", "--simulate", "--jobs", "2", "--hosts", "1", "--port", "0"]
    err, status = await _serve([*simulate, "--bind", "0.0.0.0"], {})
    assert "warning: the dashboard listens on 0.0.0.0 with no login" in err
    assert status == "200"  # (as 127.0.0.1: a loopback name)
    err, status = await _serve(simulate, {})
    assert "warning" not in err
    env = {"BKJOB_DASHBOARD_USER": "ops", "BKJOB_DASHBOARD_PASSWORD": "pw-for-the-test"}
    (printed,) = [b.body for b in blocks(PAGE) if b.lang == "sh" and "--login basic" in b.body]
    assert shlex.split(printed)[:4] == ["bkjob-async", "dashboard", "--simulate", "--bind"]
    err, status = await _serve([*shlex.split(printed)[1:], *simulate[2:]], env)
    assert "warning" not in err
    assert status == "401"
    assert "pw-for-the-test" not in err
    err, _ = await _serve([*simulate, "--login", "basic"], {})
    assert "--login basic needs $BKJOB_DASHBOARD_USER" in err
    err, status = await _serve([*simulate, "--login-header", "X-Forwarded-User"], {})
    assert status == "401"
    err, _ = await _serve([*simulate, "--trusted-proxy", "10.0.0.1"], {})
    assert "--trusted-proxy is for --login-header" in err
