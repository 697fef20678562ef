"""Configuration values: flavors, scopes, credentials, timeouts and the retry policy."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import attrs
import pytest

from bkjob_async import ApiFlavor, Credentials, RetryPolicy, Scope, ScopeType, Timeouts
from bkjob_async.config import DEFAULT_SERVER_TZ, check_id
from tests.conftest import ACCESS_TOKEN, APP_SECRET, BK_TOKEN, SECRETS


@pytest.mark.parametrize(
    ("name", "flavor", "is_v3"),
    [
        ("apigw-v3", ApiFlavor.APIGW_V3, True),
        ("esb-jobv3", ApiFlavor.ESB_JOBV3, True),
        ("esb-v2", ApiFlavor.ESB_V2, False),
    ],
)
def test_flavor_coerce(name: str, flavor: ApiFlavor, is_v3: bool) -> None:
    assert ApiFlavor.coerce(name) is flavor
    assert ApiFlavor.coerce(flavor) is flavor
    assert flavor.is_v3 is is_v3


@pytest.mark.parametrize("bad", ["v3", "APIGW-V3", "", None, 3])
def test_unknown_flavor_lists_the_valid_ones(bad: Any) -> None:
    with pytest.raises(ValueError, match="'apigw-v3', 'esb-jobv3', 'esb-v2'"):
        ApiFlavor.coerce(bad)


@pytest.mark.parametrize("good", [1, 2**63 - 1])
def test_check_id_accepts_positive_ints(good: int) -> None:
    assert check_id(good, "x") == good


@pytest.mark.parametrize(("bad", "error"), [(0, ValueError), (-1, ValueError), (2**63, ValueError), (10**30, ValueError), (True, TypeError), (1.0, TypeError), ("1", TypeError), (None, TypeError)])  # fmt: skip
def test_check_id_rejects(bad: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="thing"):
        check_id(bad, "thing")


def test_scope_constructors_and_params() -> None:
    biz, biz_set = Scope.biz(2), Scope.biz_set(9991001)
    assert (biz.type, biz.id) == (ScopeType.BIZ, 2)
    assert biz.params(ApiFlavor.APIGW_V3) == {"bk_scope_type": "biz", "bk_scope_id": "2"}
    assert biz.params(ApiFlavor.ESB_JOBV3) == {"bk_scope_type": "biz", "bk_scope_id": "2"}
    assert biz.params(ApiFlavor.ESB_V2) == {"bk_biz_id": 2}
    assert biz_set.params(ApiFlavor.ESB_JOBV3) == {
        "bk_scope_type": "biz_set",
        "bk_scope_id": "9991001",
    }
    with pytest.raises(ValueError, match="business sets"):
        biz_set.params(ApiFlavor.ESB_V2)
    assert str(biz_set) == "biz_set:9991001"
    assert Scope("biz", 3) == Scope.biz(3)


@pytest.mark.parametrize(
    ("text", "scope"),
    [("biz:2", Scope.biz(2)), ("biz_set:9", Scope.biz_set(9)), ("2", Scope.biz(2)), (" biz:7 ", Scope.biz(7))],
)  # fmt: skip
def test_scope_parse(text: str, scope: Scope) -> None:
    assert Scope.parse(text) == scope
    assert Scope.parse(str(scope)) == scope


@pytest.mark.parametrize("text", ["", "biz:", "team:2", "biz:x", "biz:0", "biz:-2", "biz:2:3"])
def test_scope_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid scope"):
        Scope.parse(text)


@pytest.mark.parametrize(("kind", "bad"), [("biz", 0), ("biz", True), ("biz", "2"), ("team", 2)])
def test_scope_rejects(kind: str, bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        Scope(kind, bad)


def test_scope_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        Scope.biz(2).id = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("identity", "extra"),
    [
        ({"username": "admin"}, {"bk_username": "admin"}),
        ({"bk_token": BK_TOKEN}, {"bk_token": BK_TOKEN}),
        ({"access_token": ACCESS_TOKEN}, {"access_token": ACCESS_TOKEN}),
        (
            {"username": "admin", "bk_token": BK_TOKEN},
            {"bk_username": "admin", "bk_token": BK_TOKEN},
        ),
    ],
)
def test_credentials_header_value(identity: dict[str, str], extra: dict[str, str]) -> None:
    credentials = Credentials("app", APP_SECRET, **identity)
    assert credentials.header_value() == {
        "bk_app_code": "app",
        "bk_app_secret": APP_SECRET,
        **extra,
    }


def test_credentials_need_a_user_identity() -> None:
    with pytest.raises(ValueError, match="no user identity"):
        Credentials("app", APP_SECRET)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"app_code": "", "app_secret": "s", "username": "u"},
        {"app_code": "a", "app_secret": "", "username": "u"},
        {"app_code": "a", "app_secret": None, "username": "u"},
        {"app_code": 1, "app_secret": "s", "username": "u"},
        {"app_code": "a", "app_secret": "s", "username": ""},
        {"app_code": "a", "app_secret": "s", "bk_token": 5},
        {"app_code": "a", "app_secret": "s", "access_token": b"tok"},
    ],
)
def test_credentials_reject_bad_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        Credentials(**kwargs)


def test_credentials_repr_and_str_hide_secrets() -> None:
    credentials = Credentials(
        "app", APP_SECRET, username="admin", bk_token=BK_TOKEN, access_token=ACCESS_TOKEN
    )
    for text in (repr(credentials), str(credentials), f"{credentials}", f"{credentials!r}"):
        assert "'admin'" in text
        for secret in SECRETS:
            assert secret not in text
    assert "bk_token=None" in repr(Credentials("app", APP_SECRET, username="u"))


def test_credential_validation_errors_do_not_echo_the_value() -> None:
    with pytest.raises(TypeError) as info:
        Credentials("app", APP_SECRET, username=APP_SECRET.encode())  # type: ignore[arg-type]
    assert APP_SECRET not in str(info.value)


def test_timeouts_defaults_and_none() -> None:
    assert Timeouts() == Timeouts(connect=10.0, read=65.0, total=70.0)
    assert Timeouts(connect=None, read=None, total=None).total is None


@pytest.mark.parametrize("field", ["connect", "read", "total"])
@pytest.mark.parametrize("bad", [0, -1, 0.0, float("nan")])
def test_timeouts_reject_non_positive(field: str, bad: float) -> None:
    with pytest.raises(ValueError, match=field):
        Timeouts(**{field: bad})


@pytest.mark.parametrize("bad", ["5", [5]])
def test_timeouts_reject_non_numbers(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        Timeouts(total=bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": True},
        {"max_attempts": 2.0},
        {"base_delay": 0},
        {"max_delay": -1},
        {"max_retry_after": 0},
    ],
)
def test_retry_policy_rejects(kwargs: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        RetryPolicy(**kwargs)


def test_retry_delay_is_capped_full_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    rng = random.Random(7)
    for retry, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (10, 3.0), (10_000, 3.0)]:
        delays = [policy.delay(retry, rng=rng) for _ in range(300)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # spread over the whole range, not fixed
        assert min(delays) < cap * 0.2


def test_retry_delay_honours_retry_after_with_a_cap() -> None:
    policy = RetryPolicy(base_delay=0.2, max_retry_after=30.0)
    rng = random.Random(3)
    for _ in range(100):
        assert 12.0 <= policy.delay(1, 12.0, rng=rng) <= 12.2
        assert 30.0 <= policy.delay(1, 500.0, rng=rng) <= 30.2
        assert 0.0 <= policy.delay(1, -5.0, rng=rng) <= 0.2


def test_retry_delay_uses_the_given_rng() -> None:
    policy = RetryPolicy()
    a = [policy.delay(3, rng=random.Random(1)) for _ in range(3)]
    b = [policy.delay(3, rng=random.Random(1)) for _ in range(3)]
    assert a == b


def test_default_server_tz_is_utc_plus_8() -> None:
    assert DEFAULT_SERVER_TZ.utcoffset(None) == dt.timedelta(hours=8)
