"""BlueKing's own shapes are taken (issue 87): host rows as bk-job and its SDK write them,
numeric strings where bk-job takes numbers, an empty parameter string as none; every refusal
names the field and the forms it takes, before any request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bkjob_async import Account, Credentials, Scope, ScriptLanguage, Targets
from bkjob_async._protocol import Protocol, Request

BIZ = Scope.biz(2)
CREDENTIALS = Credentials("my-app", "a-secret-of-the-app", username="admin")


def body(request: Request) -> Any:
    return json.loads(request.body or b"{}")


def launch(flavor: str = "apigw-v3", **kwargs: Any) -> Any:
    protocol = Protocol("https://bk.example.com/", flavor=flavor, credentials=CREDENTIALS)
    fields = {"targets": Targets(ips=["10.0.0.1"]), "account": Account(alias="root")}
    return body(
        protocol.build("fast_execute_script", BIZ, script_content="echo", **fields | kwargs)
    )


def test_host_rows_and_numeric_strings_are_targets() -> None:
    rows = Targets(
        ips=[{"bk_cloud_id": 0, "ip": "10.0.0.1"}, {"bk_cloud_id": "2", "ip": "10.0.0.2"}]
    )
    assert rows.ips == ((0, "10.0.0.1"), (2, "10.0.0.2"))
    assert rows == Targets(ips=["0:10.0.0.1", (2, "10.0.0.2")])
    assert Targets(ips=[{"ip": "10.0.0.3"}]).ips == ((0, "10.0.0.3"),)  # (cloud 0, as "ip")
    ids = Targets(host_ids=[101, "102", {"bk_host_id": 103}, {"bk_host_id": "104"}])
    assert ids.host_ids == (101, 102, 103, 104)
    sent = launch(targets=rows)["target_server"]["ip_list"]
    assert sent == [{"bk_cloud_id": 0, "ip": "10.0.0.1"}, {"bk_cloud_id": 2, "ip": "10.0.0.2"}]


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [
        ({"ips": [{"bk_cloud_id": 0}]}, ValueError, r"ips\[0\]: a host row needs 'ip'"),
        (
            {"ips": ["10.0.0.1", {"bk_cloud_id": -1, "ip": "10.0.0.2"}]},
            ValueError,
            r"ips\[1\]: a cloud area id \(bk_cloud_id\)",
        ),
        ({"ips": [{"bk_cloud_id": 0, "ip": "nope"}]}, ValueError, r"ips\[0\]: not an IPv4 or IPv6"),
        ({"ips": [7]}, TypeError, r"ips\[0\] must be 'cloud:ip', 'ip' .*\{'bk_cloud_id': 0"),
        (
            {"host_ids": [{"ip": "10.0.0.1"}]},
            ValueError,
            r"host_ids\[0\]: a host row needs 'bk_host_id'",
        ),
        ({"host_ids": [1, "x1"]}, TypeError, r"host_ids\[1\] must be an int, a numeric str"),
        ({"host_ids": ["0"]}, ValueError, r"host_ids\[0\] must be >= 1"),
    ],
)
def test_a_refusal_names_the_field_and_the_forms(
    given: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Targets(**given)


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-v2", "apigw-v4"])
def test_a_language_code_as_a_str_and_an_empty_parameter(flavor: str) -> None:
    key = "script_type" if flavor == "esb-v2" else "script_language"
    assert launch(flavor, script_language="4")[key] == 4
    assert (
        launch(flavor, script_language=4)[key]
        == launch(flavor, script_language=ScriptLanguage.PYTHON)[key]
    )
    assert launch(flavor, script_param="").get("script_param") is None  # nodeman's default
    assert launch(flavor, script_param="-a").get("script_param") == "LWE="


@pytest.mark.parametrize(
    ("language", "error", "message"),
    [
        (
            "shell",
            TypeError,
            r"script_language must be a ScriptLanguage, its code .*1 shell, 2 bat",
        ),
        ("9", ValueError, r"script_language must be one of 1 shell.*got '9'"),
        (True, TypeError, "script_language must be"),
        ("6", ValueError, "runs no SQL script"),
    ],
)
def test_a_wrong_language_is_refused_by_name(
    language: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        launch(script_language=language)
