"""Results from logs: bk-sops' and dbm's readings, ported, against their own algorithms."""

from __future__ import annotations

import functools
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bkjob_async.markers import (
    SOPS_VAR_PATTERN,
    MarkerError,
    extract,
    findall,
    host_texts,
    sops_vars,
    tagged_json,
)
from bkjob_async.models import Host, HostLog, LogType

from ..peer_readings import bk_sops

_CONFIGS = [{"re": SOPS_VAR_PATTERN, "kv_sep": ":"}]


def dbm(log_content: str) -> object:
    """blueking-dbm's ``__get_target_ip_context`` reading of one log (its ``cpl``), re-expressed."""
    cpl = re.compile("<ctx>(?P<context>.+?)</ctx>")
    return json.loads(re.search(cpl, log_content).group("context"))  # type: ignore[union-attr]


# Log text built from pieces that meet at the edges bk-sops' regex cares about.
_pieces = st.sampled_from(
    [
        "<SOPS_VAR>",
        "</SOPS_VAR>",
        "&lt;SOPS_VAR&gt;",
        "&lt;/SOPS_VAR&gt;",
        ":",
        "\n",
        "\r\n",
        "k",
        "key",
        "value",
        "a:b",
        " ",
        "<",
        "&lt;",
        "中文",
    ]
)
_logs = st.lists(_pieces | st.text(max_size=5), max_size=30).map("".join)


@given(_logs)
def test_sops_vars_equals_bk_sops_on_generated_logs(text: str) -> None:
    assert sops_vars(text) == bk_sops(text)


@given(_logs)
def test_sops_vars_equals_bk_sops_with_a_custom_pattern(text: str) -> None:
    configs = [*_CONFIGS, {"re": r"<VAR>(.+?)</VAR>", "kv_sep": "="}]
    patterns = [(c["re"], c["kv_sep"]) for c in configs]
    assert sops_vars(text.replace("SOPS_", "").replace(":", "="), patterns=patterns) == bk_sops(
        text.replace("SOPS_", "").replace(":", "="), configs
    )


def test_sops_vars_rules_one_by_one() -> None:
    text = (
        "<SOPS_VAR>a:1</SOPS_VAR>\n"
        "&lt;SOPS_VAR&gt;a:escaped&lt;/SOPS_VAR&gt;\n"
        "<SOPS_VAR>a:2</SOPS_VAR>\n"  # raw ones first, so the escaped one still wins
        "<SOPS_VAR>multi\nline:x\ny</SOPS_VAR>"
        "<SOPS_VAR>nosep</SOPS_VAR><SOPS_VAR>:emptykey</SOPS_VAR><SOPS_VAR>e:</SOPS_VAR>"
        "<SOPS_VAR> k : v:w </SOPS_VAR>"
    )
    assert sops_vars(text) == {"a": "escaped", "multi\nline": "x\ny", "e": "", " k ": " v:w "}
    assert sops_vars(None) == {} == sops_vars("")


_ctx_pieces = st.sampled_from(["<ctx>", "</ctx>", '{"a": 1}', "[1, 2]", '"x"', "{", "\n", " ", "x"])


@given(st.lists(_ctx_pieces | st.text(max_size=4), max_size=12).map("".join))
def test_tagged_json_equals_dbm_on_generated_logs(text: str) -> None:
    try:
        expected = dbm(text)
    except (AttributeError, ValueError):  # dbm's failures: no match, or no JSON
        with pytest.raises(MarkerError):
            tagged_json(text)
    else:
        assert tagged_json(text) == expected


def test_tagged_json_reads_the_first_marker_on_one_line() -> None:
    text = 'noise\nrun <ctx>{"a": [1]}</ctx> <ctx>{"a": 2}</ctx>\n<ctx>3</ctx>'
    assert tagged_json(text) == {"a": [1]} == dbm(text)


def test_tagged_json_refuses_a_missing_or_broken_marker() -> None:
    with pytest.raises(MarkerError, match="no <ctx>"):
        tagged_json("<ctx>\n{}</ctx>")  # dbm's marker sits on one line
    with pytest.raises(MarkerError, match="holds no JSON"):
        tagged_json("<ctx>{oops</ctx>")
    assert tagged_json("<out>[1, 2]</out>", tag="out") == [1, 2]
    with pytest.raises(TypeError, match="tag"):
        tagged_json("x", tag="")


def _log(host_id: int, text: str | None) -> HostLog:
    return HostLog(
        Host(bk_host_id=host_id, ip=f"10.0.0.{host_id}", bk_cloud_id=0), LogType.SCRIPT, text
    )


def test_extract_reads_the_last_step_or_every_step_per_host() -> None:
    logs = {
        11: [_log(1, "<SOPS_VAR>a:1</SOPS_VAR>"), _log(2, None)],
        12: [_log(1, "<SOPS_VAR>b:2</SOPS_VAR>"), _log(2, "<SOPS_VAR>a:3</SOPS_VAR>")],
    }
    last = extract(logs)
    assert {h.bk_host_id: v for h, v in last.items()} == {1: {"b": "2"}, 2: {"a": "3"}}
    every = extract(logs, steps="all")
    assert {h.bk_host_id: v for h, v in every.items()} == {1: {"a": "1", "b": "2"}, 2: {"a": "3"}}
    texts = host_texts(logs, steps="all")
    assert texts[1][1] == "<SOPS_VAR>a:1</SOPS_VAR>\n<SOPS_VAR>b:2</SOPS_VAR>"
    assert texts[2][1] == "<SOPS_VAR>a:3</SOPS_VAR>"  # an empty log joins nothing
    with pytest.raises(ValueError, match="steps must be"):
        host_texts(logs, steps="first")  # type: ignore[arg-type]


def test_extract_names_the_host_a_reader_fails_on() -> None:
    logs = {11: [_log(1, '<ctx>{"ok": 1}</ctx>'), _log(2, "nothing")]}
    with pytest.raises(MarkerError, match=r"10\.0\.0\.2") as caught:
        extract(logs, tagged_json)
    assert caught.value.host is not None
    assert caught.value.host.bk_host_id == 2
    found = extract(logs, functools.partial(findall, pattern=r'"(\w+)"'))
    assert {h.bk_host_id: v for h, v in found.items()} == {1: ["ok"], 2: []}


@given(st.lists(_logs, min_size=1, max_size=6))
def test_extract_over_steps_equals_bk_sops_on_the_joined_text(texts: list[str]) -> None:
    # bk-sops joins the non-empty logs it read, one per step, with a newline, then reads them.
    logs = {step: [_log(1, text or None)] for step, text in enumerate(texts)}
    joined = "\n".join(text for text in texts if text)
    assert extract(logs, steps="all")[logs[0][0].host] == bk_sops(joined)
