"""Hostile answer shapes (issue 46, point 1): nesting, sizes and types at every field read.

- ``_json.loads`` refuses a text nested deeper than ``MAX_DEPTH`` with ``TooDeep`` and reads
  every other one as ``json.loads`` does, with and without orjson: a property over texts with
  brackets, quotes and escapes inside strings (where a depth scan could be fooled), checked
  against the depth of the value itself.
- ``decipher`` then ``parse`` of a recorded answer with any field replaced by a hostile value
  (nested to 5,000, a megabyte string, numbers past a Java long, NaN, the wrong type) raise
  nothing but ``BkJobError``; an answer nested past the limit is a ``ResponseFormatError``.
- The redactor walks any depth (iteratively) and masks as the recursive walk did.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bkjob_async import (
    BkJobError,
    JobInstanceStatus,
    ResponseFormatError,
    Scope,
    ServerError,
    StepInstanceStatus,
)
from bkjob_async._json import _STRING, MAX_DEPTH, _drop_strings
from bkjob_async._protocol import Protocol, Response
from bkjob_async._secrets import Redactor
from bkjob_async.config import Credentials
from tests.conftest import load_sample
from tests.properties import examples

from .test_json import VARIANTS, _variant

SECRET = "app-secret-0123456789"
SAMPLES = {
    "get_job_instance_status.v3.apigw-doc.json": ("apigw-v3", JobInstanceStatus),
    "get_job_instance_status.v2.esb-doc-zh.json": ("esb-v2", JobInstanceStatus),
    "get_step_instance_status.v3.apigw-doc.json": ("apigw-v3", StepInstanceStatus),
}


def depth(value: Any) -> int:
    """Return how deep arrays and objects nest in ``value``, without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        node, level = pending.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            pending += [(v, level + 1) for v in (node.values() if isinstance(node, dict) else node)]
    return deepest


def nested_text(levels: int, leaf: str, opener: str = "[") -> str:
    """JSON text of ``leaf`` (JSON text) inside ``levels`` arrays or objects."""
    if opener == "[":
        return "[" * levels + leaf + "]" * levels
    return '{"k":' * levels + leaf + "}" * levels


# Strings that look like structure: brackets, quotes and backslashes, escaped every way.
tricky = st.text(alphabet='[]{}"\\/ab\n', max_size=12)
leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky
shapes = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky, inner, max_size=3),
    max_leaves=30,
)


@st.composite
def deep_values(draw: st.DrawFn) -> Any:
    """A shape wrapped in 0 to 160 arrays and objects (either side of ``MAX_DEPTH``)."""
    value = draw(shapes)
    for opener in draw(st.lists(st.sampled_from("[{"), max_size=160)):
        value = [value] if opener == "[" else {draw(tricky): value}
    return value


def _dumps_deep(value: Any) -> str:
    """``json.dumps`` for values deeper than its recursion allows: build the text iteratively."""
    wrappers = []
    while isinstance(value, (list, dict)) and len(value) == 1:
        if isinstance(value, list):
            wrappers.append(("[", "]"))
            value = value[0]
        else:
            ((key, value),) = value.items()
            wrappers.append(("{" + json.dumps(key) + ":", "}"))
    text = json.dumps(value)
    for opening, closing in reversed(wrappers):
        text = opening + text + closing
    return text


@pytest.mark.parametrize("speedups", VARIANTS)
@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=deep_values(), as_bytes=st.booleans())
def test_loads_refuses_exactly_what_nests_past_the_limit(
    speedups: bool, value: Any, as_bytes: bool
) -> None:
    variant = _variant(speedups)
    loads = variant.loads
    text = _dumps_deep(value)
    data: str | bytes = text.encode() if as_bytes else text
    if depth(value) > MAX_DEPTH:
        with pytest.raises(variant.TooDeep):
            loads(data)
    else:
        assert loads(data) == json.loads(text)


@pytest.mark.parametrize("speedups", VARIANTS)
@pytest.mark.parametrize("levels", [MAX_DEPTH, MAX_DEPTH + 1, 990, 5000, 200_000])
@pytest.mark.parametrize("opener", ["[", "{"])
def test_deep_texts_are_refused_before_any_parser_recurses(
    speedups: bool, levels: int, opener: str
) -> None:
    variant = _variant(speedups)
    loads = variant.loads
    text = nested_text(levels, '"x"', opener)
    if levels <= MAX_DEPTH:
        assert depth(loads(text)) == levels
        return
    with pytest.raises(variant.TooDeep):
        loads(text)
    # Unclosed, or closed by brackets inside a string: not JSON, and never a RecursionError.
    for broken in (text[: len(text) // 2], text.replace('"x"', '"' + "]" * levels + '"')):
        with pytest.raises(ValueError):  # noqa: PT011 - TooDeep or the parser's own error
            loads(broken)


# Texts of what the depth scan keeps (brackets and quotes), valid JSON's or not.
_kept = st.lists(
    st.sampled_from(['"', '""', "[", "]", "{", "}", "[]", '"["', '"]"', '"{}"', '""""']),
    max_size=200,
)


@settings(max_examples=examples(300), deadline=None)
@given(parts=_kept)
def test_the_depth_scan_drops_strings_as_it_did_before_its_one_pass(parts: list[str]) -> None:
    # The one pass is taken only when the pairs of adjacent quotes would have taken every
    # quote: the text left is the same either way, so every decision of the scan is too (a
    # mutant that always takes the one pass fails here).
    left = "".join(parts).encode()
    assert _drop_strings(left) == _STRING.sub(b"", left.replace(b'""', b""))


def _protocol(flavor: str) -> Protocol:
    return Protocol("http://x", flavor=flavor, credentials=Credentials("a", SECRET, username="u"))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a field of a (recorded, shallow) answer."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


_DEEP = "\x00deep\x00"
hostile_values = st.one_of(
    st.integers(50, 5000).map(lambda n: (_DEEP, n)),
    st.sampled_from(
        [
            "x" * 1_000_000,
            2**64,
            -(2**63) - 1,
            10**400,
            float("inf"),
            True,
            None,
            [],
            {},
            "\x1b[2J\x1b]0;owned\x07",
            SECRET,
            {"permission": SECRET},
        ]
    ),
    shapes,
)


def _with(answer: Any, path: tuple[Any, ...], value: Any) -> str:
    """The answer's text with the field at ``path`` replaced by ``value``."""
    deep = None
    if isinstance(value, tuple) and value[:1] == (_DEEP,):
        deep, value = value[1], _DEEP
    if not path:
        answer = value
    else:
        node = answer
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    text = json.dumps(answer)
    if deep is not None:
        text = text.replace(json.dumps(_DEEP), nested_text(deep, json.dumps(SECRET), "{"))
    return text


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(SAMPLES)),
    pick=st.randoms(use_true_random=False),
    value=hostile_values,
    status=st.sampled_from([200, 400, 403, 500]),
)
def test_any_field_of_an_answer_made_hostile_raises_only_bkjob_errors(
    name: str, pick: random.Random, value: Any, status: int
) -> None:
    flavor, cls = SAMPLES[name]
    answer = load_sample(name)
    path = pick.choice(_paths(answer))
    body = _with(answer, path, value).encode()
    protocol = _protocol(flavor)
    request = protocol.build("get_job_instance_status", Scope.biz(1), 1, with_hosts=True)
    error = _error_of(
        lambda: protocol.parse(protocol.decipher(request, Response(status, {}, body)), cls)
    )
    if error is not None:
        assert SECRET not in str(error)
        assert SECRET not in repr(getattr(error, "permission", None))
        if isinstance(value, tuple) and value[1] > MAX_DEPTH and status == 200:
            assert isinstance(error, ResponseFormatError)


def _error_of(call: Any) -> BkJobError | None:
    """Return the ``BkJobError`` ``call()`` raised, or ``None``; any other error propagates."""
    try:
        call()
    except BkJobError as exc:
        return exc
    return None


def _recursive_data(redactor: Redactor, value: Any) -> Any:
    """The redactor's walk as it was (recursive): the reference for shallow values."""
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, dict):
        return {
            _recursive_data(redactor, k): _recursive_data(redactor, v) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_recursive_data(redactor, v) for v in value]
    return value


@settings(max_examples=examples(200), deadline=None)
@given(
    value=st.recursive(
        st.none() | st.integers() | st.text(alphabet=SECRET + "x\\%", max_size=30),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=25), inner, max_size=3)
        ),
        max_leaves=20,
    )
)
def test_the_redactor_masks_as_the_recursive_walk_did(value: Any) -> None:
    redactor = Redactor([SECRET])
    assert redactor.data(value) == _recursive_data(redactor, value)


def test_the_redactor_walks_any_depth() -> None:
    value: Any = {"k": SECRET}
    for _ in range(100_000):
        value = [value]
    masked = Redactor([SECRET]).data(value)
    for _ in range(100_000):
        masked = masked[0]
    assert masked == {"k": "***"}


def test_an_error_answer_nested_past_the_limit_is_refused_whatever_its_status() -> None:
    protocol = _protocol("apigw-v3")
    request = protocol.build("get_job_instance_status", Scope.biz(1), 1)
    body = b'{"result":false,"code":9900403,"permission":' + b"[" * 600 + b"]" * 600 + b"}"
    with pytest.raises(ResponseFormatError, match=f"deeper than {MAX_DEPTH} levels"):
        protocol.decipher(request, Response(200, {}, body))
    # A gateway error status says more than its body: the status's error, typed.
    with pytest.raises(ServerError, match="HTTP 502"):
        protocol.decipher(request, Response(502, {}, body))
