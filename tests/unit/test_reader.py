"""The poller's speed code (``polling._reader``): poll requests that share their scope's query,
and the fingerprint that tells an unchanged answer without decoding it."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from bkjob_async import Scope
from bkjob_async._protocol import Protocol
from bkjob_async.polling._reader import PollRequests, Query, body_fingerprint
from tests.conftest import APP_SECRET

BIZ = Scope.biz(2)


def protocol(flavor: str = "apigw-v3") -> Protocol:
    from bkjob_async import BkJobClient

    client = BkJobClient(
        "https://bk.example.com/prefix/",
        app_code="app",
        app_secret=APP_SECRET,
        username="u",
        flavor=flavor,
    )
    return client.protocol


def ok(data: Any) -> dict[str, Any]:
    return {"result": True, "code": 0, "message": "success", "data": data}


def test_poll_requests_of_one_scope_share_all_but_the_job_id() -> None:
    proto = PollRequests(protocol("apigw-v3"))
    first = proto.job(BIZ, 100, with_hosts=True)
    second = proto.job(BIZ, 101, with_hosts=True)
    assert first.url is second.url
    assert first.headers is second.headers
    assert isinstance(first.query, Query)
    assert isinstance(second.query, Query)
    assert first.query._common is second.query._common  # the scope's part, one dict
    assert dict(second.query) == {**dict(first.query), "job_instance_id": "101"}
    assert len(first.query) == 4
    assert "job_instance_id" in first.query
    with pytest.raises(KeyError):
        first.query["bk_biz_id"]
    assert repr(first.query) == repr(dict(first.query))
    other_scope = proto.job(Scope.biz_set(9991001), 100, with_hosts=True)
    no_hosts = proto.job(BIZ, 100, with_hosts=False)
    assert other_scope.query is not None
    assert no_hosts.query is not None
    assert other_scope.query["bk_scope_type"] == "biz_set"
    assert no_hosts.query["return_ip_result"] == "false"
    assert first.query == {**dict(no_hosts.query), "return_ip_result": "true"}
    # Its text, as a URL carries it, reads back as the same pairs.
    assert dict(urllib.parse.parse_qsl(first.query.text())) == dict(first.query)
    odd = Query(Query.common({"a": "b c"}, "name"), "x&y=z")
    assert dict(urllib.parse.parse_qsl(odd.text())) == {"a": "b c", "name": "x&y=z"}
    assert Query(Query.common({}, "id"), 7).text() == "id=7"


def test_body_fingerprint_ignores_request_ids() -> None:
    a = json.dumps({**ok({"x": 1}), "request_id": "a", "job_request_id": "b"}).encode()
    b = json.dumps({**ok({"x": 1}), "request_id": "c", "job_request_id": None}).encode()
    c = json.dumps({**ok({"x": 2}), "request_id": "a", "job_request_id": "b"}).encode()
    assert body_fingerprint(a)[0] == body_fingerprint(b)[0]
    assert body_fingerprint(a)[0] != body_fingerprint(c)[0]
    assert 0 <= body_fingerprint(a)[0] < 1 << 60


def test_body_fingerprint_reuses_the_places_of_the_ids_only_where_they_still_are() -> None:
    def body(x: int, rid: str, jrid: str, extra: dict[str, Any] | None = None) -> bytes:
        data = {"x": x, **(extra or {})}
        return json.dumps({**ok(data), "request_id": rid, "job_request_id": jrid}).encode()

    first, cuts = body_fingerprint(body(1, "aaaa", "bbbb"))
    assert len(cuts) == 2
    # Same answer, new ids of the same length: the known places are used, same hash and places.
    assert body_fingerprint(body(1, "cccc", "dddd"), cuts) == (first, cuts)
    # New ids of another length: the places moved, the body is searched again; same hash.
    moved = body_fingerprint(body(1, "cc", "dddddd"), cuts)
    assert moved[0] == first
    assert moved[1] != cuts
    # Another answer: another hash, whatever places are passed.
    assert body_fingerprint(body(2, "cccc", "dddd"), cuts)[0] != first
    assert body_fingerprint(body(2, "cccc", "dddd"))[0] != first
    # An id where none was (a key inside data): left in with the old places, so the body looks
    # changed (decoded once, never skipped wrongly); a fresh search cuts all three.
    extra = body(1, "cccc", "dddd", {"request_id": "eeee"})
    assert body_fingerprint(extra, cuts)[0] != first
    assert len(body_fingerprint(extra)[1]) == 3
    # Places past the end of a shorter body, or not at an id: searched again.
    assert body_fingerprint(b'{"request_id":"z"}', cuts) == body_fingerprint(b'{"request_id":"z"}')
    assert body_fingerprint(b"{}", (5,)) == (hash(b"{}") & (1 << 60) - 1, ())


def test_answers_with_their_ids_at_the_same_places_share_one_tuple_of_places() -> None:
    def body(job: int, jrid: str) -> bytes:
        return b'{"code":0,"result":true,"job_request_id":"%s","data":{"job":%d}}' % (
            jrid.encode(),
            job,
        )

    one, two = body_fingerprint(body(1, "aaaa")), body_fingerprint(body(22, "bbbb"))
    assert one[1] == (body(1, "aaaa").find(b'request_id"'),)
    assert one[1] is two[1]  # one tuple for every job
    assert one[0] != two[0]


@pytest.mark.parametrize("flavor", ["esb-jobv3", "esb-v2"])
def test_the_esb_polls_are_the_tables_request(flavor: str) -> None:
    proto = protocol(flavor)
    polls = PollRequests(proto)
    poll = polls.job(BIZ, 100)
    assert poll == proto.build("get_job_instance_status", BIZ, 100)
    assert poll.job_instance_id == 100
    assert poll.scope == "biz:2"
    # A GET there too (the row's ESB method): the scope's query shared, the URL one string.
    assert (poll.method, poll.body) == ("GET", None)
    assert isinstance(poll.query, Query)
    other = polls.job(BIZ, 101)
    assert isinstance(other.query, Query)
    assert other.url is poll.url
    assert other.query._common is poll.query._common
    assert other == proto.build("get_job_instance_status", BIZ, 101)


def test_a_v4_poll_is_the_tables_request() -> None:
    proto = protocol("apigw-v4")
    poll = PollRequests(proto).job(BIZ, 100)
    assert poll == proto.build("get_job_instance_status", BIZ, 100)
    assert poll.v4
    assert not isinstance(poll.query, Query)


def test_a_gateway_poll_carries_its_scope_and_job_for_spans() -> None:
    poll = PollRequests(protocol()).job(Scope.biz_set(9), 7)
    assert (poll.scope, poll.job_instance_id, poll.step_instance_id) == ("biz_set:9", 7, None)
    assert poll == protocol().build("get_job_instance_status", Scope.biz_set(9), 7)


@pytest.mark.parametrize("bad", [0, -1, "7", True, None])
def test_a_poll_of_a_bad_id_is_refused_after_its_scope_was_spelled(bad: Any) -> None:
    proto = PollRequests(protocol("apigw-v3"))
    proto.job(BIZ, 100)  # (the scope's part spelled and kept)
    with pytest.raises((TypeError, ValueError), match="job_instance_id"):
        proto.job(BIZ, bad)
    assert proto.job(BIZ, 101).job_instance_id == 101
