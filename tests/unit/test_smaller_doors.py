"""The smaller doors of issue 46 (point 4): bad input refused at construction with a typed
error, sensitive values masked, no credential kept on an error's cause."""

from __future__ import annotations

import json

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from bkjob_async import (
    Account,
    BkJobClient,
    ConfigFile,
    Scope,
    ServerError,
    Targets,
)
from bkjob_async._aiohttp import _bare
from bkjob_async._params import MAX_SCRIPT_BYTES
from bkjob_async._protocol import Protocol, Response
from bkjob_async.config import Credentials

SECRET = "app-secret-0123456789"


def _protocol() -> Protocol:
    return Protocol(
        "http://x", flavor="apigw-v3", credentials=Credentials("a", SECRET, username="u")
    )


@pytest.mark.parametrize(
    "options",
    [
        {"tenant_id": "system\r\nX-Injected: 1"},
        {"tenant_id": "a\nb"},
        {"language": "en\r\n"},
        {"language": "zh\x00"},
        {"language": "中文"},
    ],
)
def test_header_values_with_control_characters_are_refused_at_construction(options) -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        BkJobClient("http://x", app_code="a", app_secret="b", username="u", **options)


def test_good_header_values_are_kept() -> None:
    client = BkJobClient(
        "http://x", app_code="a", app_secret="b", username="u", tenant_id="system", language="zh-cn"
    )
    request = client.protocol.build("get_job_instance_status", Scope.biz(1), 1)
    assert request.headers["X-Bk-Tenant-Id"] == "system"
    assert request.headers["Blueking-Language"] == "zh-cn"


@pytest.mark.parametrize(
    "text", ["biz:٣", "biz:1_000", "biz:+7", "biz:-7", "biz: 7", "٣", "biz:７"]
)
def test_scope_parse_takes_ascii_digits_only(text: str) -> None:
    with pytest.raises(ValueError, match="invalid scope"):
        Scope.parse(text)


def test_scope_parse_still_reads_good_scopes() -> None:
    assert Scope.parse("biz:2") == Scope.biz(2)
    assert Scope.parse(" 3 ") == Scope.biz(3)
    assert str(Scope.parse("biz_set:9991001")) == "biz_set:9991001"


@pytest.mark.parametrize("name", [".", "..", "a\x00b", "a\nb", "x" * 256, "é" * 128, "a/b"])
def test_config_file_names_are_checked_as_file_names(name: str) -> None:
    with pytest.raises(ValueError, match="ConfigFile name"):
        ConfigFile(name, "content")


def test_a_config_file_name_of_255_bytes_is_taken() -> None:
    assert ConfigFile("x" * 255, "c").name == "x" * 255


@pytest.mark.parametrize("alias", ["", "  ", "root\n", "ro\x00ot"])
def test_an_account_alias_must_be_printable_and_not_blank(alias: str) -> None:
    with pytest.raises(ValueError, match="alias"):
        Account(alias=alias)


@pytest.mark.parametrize("ip", ["10.0.0.300", "10.0.0", "host.example", "1.2.3.4\n", "::g"])
def test_ips_are_validated(ip: str) -> None:
    with pytest.raises(ValueError, match="IPv4 or IPv6"):
        Targets(ips=[(0, ip)])


def test_good_ips_and_cloud_pairs_are_taken() -> None:
    targets = Targets(ips=["10.0.0.1", "2:10.0.0.2", (3, "fe80::1"), "2001:db8::5"])
    assert targets.ips == ((0, "10.0.0.1"), (2, "10.0.0.2"), (3, "fe80::1"), (0, "2001:db8::5"))
    with pytest.raises(ValueError, match="cloud:ip"):
        Targets(ips=["٣:10.0.0.1"])


def _script(content: str, **kwargs):
    return _protocol().build(
        "fast_execute_script",
        Scope.biz(1),
        targets=Targets(host_ids=[1]),
        account=Account(alias="root"),
        script_content=content,
        **kwargs,
    )


def test_a_script_over_the_documented_limit_is_refused_before_sending() -> None:
    assert _script("x" * MAX_SCRIPT_BYTES).body is not None
    with pytest.raises(ValueError, match="5 MiB"):
        _script("x" * (MAX_SCRIPT_BYTES + 1))
    with pytest.raises(ValueError, match="5 MiB"):  # counted in UTF-8 bytes
        _script("é" * (MAX_SCRIPT_BYTES // 2 + 1))


@pytest.mark.parametrize("sensitive", [True, False])
def test_a_sensitive_script_parameter_is_masked_where_the_server_echoes_it(
    sensitive: bool,
) -> None:
    param = "--password hunter2-very-long"
    request = _script("echo", script_param=param, is_param_sensitive=sensitive)
    body = json.dumps({"result": False, "code": 1240001, "message": f"bad: {param}"}).encode()
    with pytest.raises(ServerError) as caught:
        _protocol().decipher(request, Response(500, {}, body))
    assert (param in str(caught.value)) is not sensitive
    assert param not in repr(request)


def test_the_aiohttp_cause_kept_holds_no_credential_header() -> None:
    info = aiohttp.RequestInfo(
        URL("http://x/api"),
        "GET",
        CIMultiDictProxy(CIMultiDict({"X-Bkapi-Authorization": SECRET, "Accept": "json"})),
        URL("http://x/api"),
    )
    try:
        raise aiohttp.ClientResponseError(info, (), status=502, message="bad gateway")
    except aiohttp.ClientResponseError as exc:
        bare = _bare(exc)
    assert bare.__traceback__ is None
    assert bare.request_info.headers["X-Bkapi-Authorization"] == "***"  # type: ignore[attr-defined]
    assert bare.request_info.headers["Accept"] == "json"  # type: ignore[attr-defined]
    assert SECRET not in repr(bare.args)


@pytest.mark.parametrize("ip", ["10.0.0.300", "x", "1.2.3.4 "])
def test_the_ips_of_log_requests_are_validated(ip: str) -> None:
    with pytest.raises(ValueError, match="IPv4 or IPv6"):
        _protocol().build("get_job_instance_ip_log", Scope.biz(1), 1, 2, (0, ip))
