"""``bkjob_async._json``: orjson (the ``speedups`` extra) or the standard library, same results.

Both variants are loaded side by side from the module's file (each told its choice), and
each is held to what ``json`` does. The codec, protocol, reader and store suites run under the
standard library in a subprocess (``BKJOB_ASYNC_NO_SPEEDUPS=1``), and in this process with
orjson when it is installed, so they pass under both.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bkjob_async
import bkjob_async._json
from tests.properties import examples

ROOT = Path(bkjob_async.__file__).parent


def _variant(speedups: bool) -> ModuleType:
    """Load a fresh copy of ``_json`` with or without orjson."""
    spec = importlib.util.spec_from_file_location(
        f"_json_variant_{speedups}", bkjob_async._json.__file__
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.choose(speedups)
    return module


def _has_orjson() -> bool:
    return importlib.util.find_spec("orjson") is not None


VARIANTS = [
    pytest.param(False, id="stdlib"),
    pytest.param(
        True,
        id="orjson",
        marks=pytest.mark.skipif(not _has_orjson(), reason="orjson is not installed"),
    ),
]


@pytest.fixture(params=VARIANTS)
def variant(request: pytest.FixtureRequest) -> ModuleType:
    module = _variant(request.param)
    assert module.speedups() is request.param
    return module


def _std_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 is not 1.0; NaN is NaN); without
    recursion, since a list 5,000 deep (which Python 3.13's ``json`` reads) is compared too."""
    pairs = [(a, b)]
    while pairs:
        x, y = pairs.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, float):
            if not ((math.isnan(x) and math.isnan(y)) or (x == y and str(x) == str(y))):
                return False
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            pairs += zip(x, y, strict=True)
        elif isinstance(x, dict):
            if list(x) != list(y):
                return False
            pairs += ((x[k], y[k]) for k in x)
        elif x != y:
            return False
    return True


def _outcome(call: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", call(*args)
    except (ValueError, TypeError, RecursionError) as exc:
        return type(exc).__name__, None


text = st.text(st.characters(codec=None), max_size=12)  # lone surrogates too
ints = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, -(2**64)]),
)
floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(st.none(), st.booleans(), ints, floats, text)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=examples(300), deadline=None)
@given(values)
def test_round_trips_give_the_standard_librarys_values(value: Any) -> None:
    expected = json.loads(_std_dumps(value))
    for module in (_STD, _FAST):
        text = module.dumps(value)
        assert _same(module.loads(text), expected)
        assert _same(module.loads(text.encode("utf-8", "surrogatepass")), expected)


@settings(max_examples=examples(300), deadline=None)
@given(values)
def test_loads_reads_the_standard_librarys_text_as_it_does(value: Any) -> None:
    for spelled in (_std_dumps(value), json.dumps(value)):  # UTF-8 as is, and \u escapes
        for data in (spelled, spelled.encode("utf-8", "surrogatepass")):
            for module in (_STD, _FAST):
                got, want = _outcome(module.loads, data), _outcome(json.loads, data)
                assert got[0] == want[0]
                assert _same(got[1], want[1])


ODD_TEXTS = [
    b"NaN",
    b"[Infinity, -Infinity]",
    b"1e400",
    b"-1e400",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"[12345678901234567890123]",
    b'{"a": 1, "a": 2}',
    b"\xef\xbb\xbf{}",
    '{"k": 1}'.encode("utf-16"),
    b"\xff",
    b'"\\ud800"',
    b"1.0000000000000000000000001",
    b"[1,",
    b"",
    b" 1 ",
]


@pytest.mark.parametrize("data", ODD_TEXTS, ids=range(len(ODD_TEXTS)))
def test_odd_answers_read_as_the_standard_library_reads_them(
    variant: ModuleType, data: bytes
) -> None:
    for form in (data, data.decode("utf-8", "surrogateescape")):
        got, want = _outcome(variant.loads, form), _outcome(json.loads, form)
        assert got[0] == want[0]
        assert _same(got[1], want[1])


# Numbers of 1 to 24 digits (either side of 64 bits), at every offset modulo 3, some in strings.
numbers = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.integers(1, 24).flatmap(lambda n: st.integers(10 ** (n - 1), 10**n - 1)),
        st.sampled_from(["", "-", '"']),
    ),
    max_size=12,
)


@settings(max_examples=examples(300), deadline=None)
@given(numbers)
def test_a_number_past_64_bits_anywhere_is_read_as_json_reads_it(
    layout: list[tuple[int, int, str]],
) -> None:
    # ``loads`` looks for a run of 19 digits (``_SHAPE``): one must be found at any offset, in
    # a string or out of one (a mutant that looks for 20 in a row, or skips bytes, fails here).
    items = []
    for pad, number, form in layout:
        spelled = f'"{number}"' if form == '"' else f"{form}{number}"
        items.append(" " * pad + spelled)
    text = "[" + ",".join(items) + "]"
    got, want = _outcome(_FAST.loads, text.encode()), _outcome(json.loads, text)
    assert got[0] == want[0]
    assert _same(got[1], want[1])


# A number of 17 to 24 digits in each place JSON puts one: after each separator and whitespace,
# in an object, deep in arrays, alone as the text, with a fraction or an exponent of as many.
_PLACES = [
    "{n}",
    " {n}",
    "\n\t{n}\r",
    "[{n}]",
    "[[[ {n}]]]",
    '{{"k":{n}}}',
    '{{"k" :\n-{n}}}',
    "[1,{n}]",
    "[1 , -{n}]",
    "0.{n}",
    "1.5e-{n}",
    "1.5E+{n}",
    "-1.{n}e3",
    '[{{"a":[{{"b":{n}}}]}}]',
]


@settings(max_examples=examples(300), deadline=None)
@given(
    st.sampled_from(_PLACES),
    st.integers(17, 24).flatmap(lambda n: st.integers(10 ** (n - 1), 10**n - 1)),
)
def test_a_long_number_in_any_place_is_read_as_json_reads_it(place: str, number: int) -> None:
    # The digit guard looks for 19 digits after a separator (``_SHAPE``): a mutant that forgets
    # one of the places a number starts (the text's start, a minus, a fraction) fails here.
    text = place.format(n=number)
    got, want = _outcome(_FAST.loads, text.encode()), _outcome(json.loads, text)
    assert got[0] == want[0]
    assert _same(got[1], want[1])


@pytest.mark.skipif(not _has_orjson(), reason="orjson is not installed")
def test_long_digit_runs_in_strings_keep_the_fast_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    # A GSE agent id holds runs of 19 digits and more: an answer of such rows is read by orjson,
    # not sent whole to the standard library; a long number anywhere still is.
    fast = _variant(True)
    slow: list[object] = []
    real = fast._std_loads
    monkeypatch.setattr(fast, "_std_loads", lambda data: slow.append(data) or real(data))
    row = '{"bk_host_id":%d,"bk_agent_id":"0200000000525400c6046216975306648243","ip":"10.0.0.%d"}'
    rows = "[" + ",".join(row % (i, i) for i in range(1, 60)) + "]"
    assert fast.loads(rows.encode()) == json.loads(rows)
    assert fast.loads('{"id":"x12345678901234567890"}') == {"id": "x12345678901234567890"}
    assert slow == []
    # (a mantissa of 19 digits after the point too: ``float()`` rounds it, whatever orjson does)
    for text in (
        rows[:-1] + ",12345678901234567890]",
        '{"t":-1234567890123456789}',
        '{"f":0.1234567890123456789}',
    ):
        assert _same(fast.loads(text), json.loads(text))
    assert len(slow) == 3


def test_a_text_nested_past_the_limit_is_refused_where_json_would_recurse(
    variant: ModuleType,
) -> None:
    """The one departure from ``json.loads``: past ``MAX_DEPTH`` levels ``TooDeep`` (a
    ``ValueError``), where ``json`` raises ``RecursionError`` (or, on 3.13, reads it)."""
    for data in (b"[" * 5000 + b"]" * 5000, "[" * 101 + "]" * 101):
        with pytest.raises(variant.TooDeep):
            variant.loads(data)
    assert variant.loads("[" * variant.MAX_DEPTH + "]" * variant.MAX_DEPTH) is not None


ODD_VALUES = [
    {1: "a", 2.5: "b", None: "c", False: "d"},
    2**64,
    [-(2**63) - 1],
    "\ud800",
    "\x00\x1f\x7f\u2028",
    {"nested": [[[]]], "e": 1e-07, "big": 1e16},
]


@pytest.mark.parametrize("value", ODD_VALUES, ids=range(len(ODD_VALUES)))
def test_odd_values_encode_to_the_standard_librarys_values(variant: ModuleType, value: Any) -> None:
    assert _same(variant.loads(variant.dumps(value)), json.loads(_std_dumps(value)))


@pytest.mark.parametrize("value", [float("nan"), [1, float("inf")], {"x": -math.inf}])
def test_a_non_finite_float_read_from_an_answer_is_refused_as_json_refuses_it(
    variant: ModuleType, value: Any
) -> None:
    read = variant.loads(json.dumps({"v": value, "n": None}))  # NaN/Infinity in the text
    with pytest.raises(ValueError, match="Out of range float"):
        _std_dumps(read)
    with pytest.raises(ValueError, match="Out of range float"):
        variant.dumps(read)


@pytest.mark.parametrize("value", [float("nan"), [None, math.inf], {"x": -math.inf, "y": None}])
def test_a_non_finite_float_given_is_refused_as_json_refuses_it(
    variant: ModuleType, value: Any
) -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        _std_dumps(value)
    with pytest.raises(ValueError, match="Out of range float"):
        variant.dumps(value)


def test_subclasses_and_other_types_are_the_standard_librarys_business(
    variant: ModuleType,
) -> None:
    import datetime
    import enum

    class Code(enum.IntEnum):
        A = 3

    class Name(str, enum.Enum):
        B = "b"

    assert variant.dumps([Code.A, Name.B, True]) == _std_dumps([Code.A, Name.B, True])
    for other in (datetime.date(2026, 1, 1), object(), {1, 2}):
        with pytest.raises(TypeError):
            _std_dumps(other)
        with pytest.raises(TypeError):
            variant.dumps(other)


def test_quote_is_what_dumps_makes_of_a_string(variant: ModuleType) -> None:
    for value in ("", "watch", 'a"b\\c\n', "é中\u2028", "\ud800"):
        assert variant.quote(value) == variant.dumps(value)
        assert json.loads(variant.quote(value)) == value


_STD = _variant(False)
_FAST = _variant(True) if _has_orjson() else _STD


# --- no private standard-library API in the package -------------------------------------------

PRIVATE = re.compile(
    r"c_make_encoder|c_scanstring|py_scanstring|make_scanner|encode_basestring"
    r"|\bjson\.(?:encoder|decoder|scanner)\b|^\s*(?:import|from) _json\b"
    r"|\bsys\._getframe\b|\basyncio\.(?:base_events|events\._|tasks\._)",
    re.MULTILINE,
)


def test_the_package_uses_no_private_standard_library_json_api() -> None:
    found = [
        f"{path.relative_to(ROOT.parent)}:{source[: match.start()].count(chr(10)) + 1}: {match[0]}"
        for path in sorted(ROOT.rglob("*.py"))
        for source in [path.read_text()]
        for match in PRIVATE.finditer(source)
    ]
    assert found == []


def test_the_grep_finds_what_it_looks_for() -> None:
    for line in (
        "make = getattr(json.encoder, 'c_make_encoder', None)",
        "_quote = json.encoder.encode_basestring",
        "from json.decoder import JSONArray",
        "import _json",
    ):
        assert PRIVATE.search(line), line
    assert not PRIVATE.search("from . import _json, errors")


# --- the suites that read answers and rows, under the standard library ------------------------

SUITES = [
    "tests/unit/test_json.py",
    "tests/unit/test_codec.py",
    "tests/unit/test_protocol.py",
    "tests/unit/test_protocol_logs.py",
    "tests/functional/test_malformed.py",
    "tests/functional/test_hostile_answers.py",
    "tests/durable/test_sqlite.py",
]


@pytest.mark.timeout(600)
def test_the_codec_reader_and_store_suites_pass_without_speedups() -> None:
    if not _has_orjson():
        pytest.skip("orjson is not installed: this process already ran them on the stdlib")
    env = {**os.environ, "BKJOB_ASYNC_NO_SPEEDUPS": "1"}
    code = "import bkjob_async._json as j; assert not j.speedups(); print('stdlib')"
    check = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert check.stdout.strip() == "stdlib", check.stderr
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:randomly",
            # (the properties draw as many examples as this run's do)
            f"--hypothesis-profile={settings.get_current_profile_name()}",
            *SUITES,
            "-k",
            "not pass_without_speedups",
        ],
        cwd=ROOT.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=580,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
