"""The masking contract of ``bkjob_async._secrets``: every echoed form, whole occurrences only."""

from __future__ import annotations

import base64
import json
import urllib.parse
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bkjob_async._secrets import MASK, Redactor
from tests.conftest import APP_SECRET
from tests.properties import examples

#: A long secret that JSON, repr and URLs all escape, non-ASCII included.
ODD = "p\"a\\ss/wörd'\t+x y&z€"


def b64_at(secret: str, shift: int, *, urlsafe: bool = False) -> str:
    """The base64 of ``secret`` inside a longer value, at byte alignment ``shift``."""
    raw = b"k" * shift + secret.encode() + b"tail"
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()


def forms(secret: str) -> dict[str, str]:
    """Every form of ``secret`` a server or a parser may echo."""
    escaped = json.dumps(secret)[1:-1]
    found = {
        "raw": secret,
        "json": escaped,
        "json, non-ASCII kept": json.dumps(secret, ensure_ascii=False)[1:-1],
        "\\u every character": "".join(f"\\u{ord(c):04x}" for c in secret),
        "\\u upper case": "".join(f"\\u{ord(c):04X}" for c in secret),
        "url": urllib.parse.quote(secret, safe=""),
        "url, plus for space": urllib.parse.quote_plus(secret),
        "bytes repr": repr(secret.encode())[2:-1],
        "repr of json": repr(json.dumps({"k": secret}).encode()),
        "json of json": json.dumps(json.dumps({"k": secret})),
        "cut after 8": secret[:8],
        "cut after 9, json": escaped[: len(json.dumps(secret[:9])[1:-1])],
        "last 8": secret[-8:],
    }
    for shift in range(3):
        found[f"base64 at {shift}"] = b64_at(secret, shift)
        found[f"urlsafe base64 at {shift}"] = b64_at(secret, shift, urlsafe=True)
    return found


def leaks(text: str, secret: str) -> list[str]:
    """Return each form of ``secret`` (8+ characters of it) still readable in ``text``."""
    shown = [name for name, form in forms(secret).items() if form in text]
    runs = [secret[i : i + 8] for i in range(len(secret) - 7)]
    return shown + [run for run in runs if run in text]


@pytest.mark.parametrize("secret", [APP_SECRET, ODD, "12345678", "a" * 8 + "€"])
@pytest.mark.parametrize("name", list(forms(APP_SECRET)))
def test_every_form_is_masked(secret: str, name: str) -> None:
    form = forms(secret)[name]
    text = f"error near <{form}> at byte 42"
    masked = Redactor([secret])(text)
    assert MASK in masked
    assert not leaks(masked, secret), masked
    assert masked.startswith("error near <")
    assert masked.endswith("> at byte 42") or name.startswith(("base64", "urlsafe"))


def test_masking_keeps_the_message_readable() -> None:
    redact = Redactor(["s", "t", "in", APP_SECRET])
    text = "get_job_instance_status: bad app secret"
    assert redact(text) == text  # a 1-character secret no longer garbles get_job_in***tance
    assert (
        redact(f'{{"bk_app_secret": "s", "x": {APP_SECRET!r}}}')
        == '{"bk_app_secret": "***", "x": \'***\'}'
    )
    assert redact("secret=s&token=t") == "secret=***&token=***"


def test_short_secrets_are_best_effort_only_where_they_stand_alone() -> None:
    redact = Redactor(["pw1234"])
    assert redact("pw1234") == MASK
    assert redact("%22pw1234%22") == "%22***%22"
    assert redact("xpw1234x") == "xpw1234x"  # inside a word: left, not garbled


def test_overlapping_and_repeated_secrets() -> None:
    redact = Redactor([APP_SECRET, APP_SECRET[4:20], APP_SECRET])
    assert redact(f"{APP_SECRET}{APP_SECRET} and {APP_SECRET[4:20]}.") == f"{MASK} and {MASK}."


def test_no_secret_no_change() -> None:
    assert Redactor([])("anything s3cr3t") == "anything s3cr3t"
    assert not Redactor([None, ""])  # type: ignore[list-item]
    assert "s3cr3t" not in repr(Redactor(["s3cr3t-long-one"]))


def test_json_values_are_masked_keys_included() -> None:
    redact = Redactor([APP_SECRET])
    value: Any = {"action": [{"id": APP_SECRET, APP_SECRET: 1}], "n": 3, "none": None}
    assert redact.data(value) == {"action": [{"id": MASK, MASK: 1}], "n": 3, "none": None}


@settings(max_examples=examples(300), deadline=None)
@given(
    secret=st.text(min_size=8, max_size=40).filter(lambda s: not s.isspace()),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
    name=st.sampled_from(list(forms(APP_SECRET))),
)
def test_any_secret_in_any_form_anywhere(secret: str, before: str, after: str, name: str) -> None:
    try:
        form = forms(secret)[name]
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form to echo
        return
    masked = Redactor([secret])(before + form + after)
    assert secret not in masked
    assert secret[:8] not in masked


def test_a_repetitive_secret_is_masked_wherever_8_of_its_characters_show() -> None:
    secret = "ab" * 40 + "Z" * 30
    redact = Redactor([secret])
    text = f"{secret} | {secret[10:50]} | {json.dumps(secret)} | abab | {'Z' * 7}"
    assert redact(text) == f'{MASK} | {MASK} | "{MASK}" | abab | {"Z" * 7}'
