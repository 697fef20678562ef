"""JSON for the package: ``orjson`` when installed (the ``speedups`` extra), else the stdlib; no I/O.

Layer: the bottom (imports nothing of the package). Importing it does nothing but define: the
choice is made once, at the first ``loads``, ``dumps``, ``quote`` or ``speedups()``: ``orjson``
if it imports and ``BKJOB_ASYNC_NO_SPEEDUPS`` is not set to a non-empty value other than ``0``,
the standard library otherwise. ``speedups()`` says which; ``choose(speedups=...)`` makes the
choice without the environment (before any use, or again in a test).

Rule: the results are the standard library's, whichever is chosen. ``loads`` gives what
``json.loads`` gives (or raises what it raises); ``dumps`` gives text that ``loads`` reads back
to what ``json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)``'s text
reads back to, and raises where it raises. Where ``orjson`` would differ, the standard library
does the work instead:

- integers past 64 bits: ``orjson.loads`` reads them as floats (silently), so a text with a
  number of 20 digits (or 19 after a minus sign, or in its fraction) is read by ``json.loads``;
  ``orjson.dumps`` raises on them, and ``json`` encodes them;
- ``NaN``, ``Infinity``, ``1e400``, lone surrogates, a BOM, UTF-16 or UTF-32 text: ``orjson``
  refuses them, ``json.loads`` reads them;
- keys that are not strings, subclasses of ``str``/``int``/``dict``/``list``, dataclasses,
  dates: ``orjson.dumps`` refuses them here (``default`` raises), and ``json`` encodes or
  refuses them;
- non-finite floats: ``orjson.dumps`` writes them as ``null`` where ``json`` raises
  ``ValueError``; so a text with a ``null`` in it is made by the standard library instead
  (which also raises where it must). Values without ``None`` keep orjson's speed (how many of
  the SQLite store's values that is: ``docs/performance.md``, "With the speedups extra").

The text ``dumps`` makes may spell a float differently (``1e-07`` or ``1e-7``): both read back
to the same float.

Depth: ``loads`` refuses a text whose arrays and objects nest deeper than ``MAX_DEPTH`` with
``TooDeep`` (a ``ValueError``, as ``json.loads``'s errors are), before either parser reads it.
No answer of bk-job nests past 10 levels; the bound keeps every reader of what ``loads`` gives
(the redactor, ``repr``, cattrs, the stores) far from the interpreter's recursion limit,
whichever stack it runs on, and the standard library's recursive parser too.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["MAX_DEPTH", "TooDeep", "choose", "dumps", "loads", "quote", "speedups"]

#: The deepest nesting of arrays and objects ``loads`` reads (the module docstring says why).
MAX_DEPTH = 100


_Loads = Callable[[bytes | bytearray | str], Any]
_Dumps = Callable[[Any], str]


class TooDeep(ValueError):
    """A JSON text nests arrays and objects deeper than ``MAX_DEPTH``."""


_std_loads = json.loads
_std_encode = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
).encode


def _orjson_if(wanted: bool | None) -> ModuleType | None:
    """Return ``orjson`` if it imports and is wanted (``None``: unless ``BKJOB_ASYNC_NO_SPEEDUPS``
    turns it off)."""
    if wanted is None:
        wanted = os.environ.get("BKJOB_ASYNC_NO_SPEEDUPS", "") in ("", "0")
    if not wanted:
        return None
    try:
        import orjson  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return orjson  # type: ignore[no-any-return,unused-ignore]


# A number orjson would read as a float has 20 digits, or 19 after a minus sign (-2**63 - 1);
# and a mantissa of 19 digits or more may round otherwise than ``float()`` does. A text with
# such a number goes to the standard library. A number's digits follow, in JSON, the start of
# the text, ``[``, ``:``, ``,`` or whitespace, or its own ``-``, ``.`` or exponent sign: the one
# pass maps every digit to "0" and each of those separators to ":", and the text is looked at
# for 19 zeros, then for ":" and 19 zeros (or 19 zeros at the start): C passes, cheaper than a
# regular expression. A run of digits in a string (a GSE agent id such as
# ``0200000000525400c6046216975306648243``) follows a quote or a letter and does not send the
# whole answer to the slower parser; one after a space, a comma or a dash in a string does
# (only a text read the slow way, alike). The same pass deletes the opening brackets, whose
# number is then the length it took off, for the depth (``_SHAPE``, ``_OPENING``: about thirteen
# instructions a byte, where mapping them and counting them after cost fifteen). A number after
# ``[`` keeps the separator before the bracket (``[`` only follows another one, ``:``, ``,``,
# whitespace or the start), so none is missed; a bracket deleted in a string may join two runs
# there, which only sends a text to the standard library.
_SHAPE = bytes.maketrans(b"123456789,-.+ \t\n\r", b"000000000::::::::")
_OPENING = b"[{"
_DIGITS = b"0" * 19
_NUMBER = b":" + _DIGITS


# A string (its escaped quotes gone) once all but brackets and quotes are dropped.
_STRING = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'[]{}"')))


def _drop_strings(left: bytes | bytearray) -> bytes | bytearray:
    """Return brackets and quotes (``left``) without their strings: each two adjacent quotes
    go, then the strings left (``_check_depth``). When the pairs would take every quote, one
    pass drops them all instead, to the same text."""
    bare = left.translate(None, b'"')
    if left.count(b'""') * 2 == len(left) - len(bare):
        return bare
    return _STRING.sub(b"", left.replace(b'""', b""))


def _check_depth(data: bytes | bytearray | str) -> None:
    """Raise ``TooDeep`` if ``data`` nests deeper than ``MAX_DEPTH``; no recursion, no parse.

    Every step is a C pass over what is left. Escaped backslashes and quotes are dropped, then
    everything but brackets and quotes: a text with at most ``MAX_DEPTH`` opening brackets is
    shallow enough. Else the strings go: first each two adjacent quotes (an empty string, or
    the end of one string and the start of the next: nothing between them either way, and the
    quotes after them still alternate), then the few strings left, those that held brackets.
    (``_drop_strings``: in one pass when no string held a bracket, the common case.)
    Last, innermost pairs of brackets are removed a round at a time: a valid text nested ``n``
    deep is empty after ``n`` rounds. A text that stops shrinking is not JSON: short, the
    parser says so (its recursion is bounded by what is left); long, it is refused as too deep.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) <= 2 * MAX_DEPTH:
        return
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    left = raw.translate(None, _NOT_STRUCTURE)
    if len(left) - len(left.translate(None, b"[{")) <= MAX_DEPTH:  # (the opening brackets)
        return
    left = _drop_strings(left)
    for _ in range(MAX_DEPTH):
        size = len(left)
        left = left.replace(b"[]", b"").replace(b"{}", b"")
        if not left or (len(left) == size and size <= MAX_DEPTH):
            return
        if len(left) == size:
            break
    raise TooDeep(
        f"the JSON text nests arrays or objects deeper than {MAX_DEPTH} levels (or is not JSON)"
    )


def _refuse(value: object) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _with_orjson(orjson: ModuleType) -> tuple[_Loads, _Dumps, _Dumps]:
    o_loads, o_dumps, o_error = orjson.loads, orjson.dumps, orjson.JSONDecodeError
    options = (
        orjson.OPT_PASSTHROUGH_SUBCLASS
        | orjson.OPT_PASSTHROUGH_DATACLASS
        | orjson.OPT_PASSTHROUGH_DATETIME
    )

    def loads(data: bytes | bytearray | str) -> Any:
        # Both guards from one pass (``_SHAPE``): its opening brackets, if no more than
        # ``MAX_DEPTH``, are shallow enough (else ``_check_depth`` decides); its runs of digits.
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        shape = raw.translate(_SHAPE, _OPENING)
        if len(raw) - len(shape) > MAX_DEPTH:  # (those in strings count too: never too few)
            _check_depth(raw)
        # (a run of 19 digits anywhere first: a quick pass, found in few texts; then one that
        # starts a number, a slower pass, as ":" and "0" are both common in the shape)
        if shape.partition(_DIGITS)[1] and (
            shape.startswith(_DIGITS) or shape.partition(_NUMBER)[1]
        ):
            return _std_loads(data)
        try:
            return o_loads(data)
        except o_error:  # NaN, 1e400, a lone surrogate, a BOM, UTF-16...: json reads them
            return _std_loads(data)

    def dumps(value: Any) -> str:
        try:
            out: bytes = o_dumps(value, default=_refuse, option=options)
        except TypeError:  # big ints, other keys, subclasses...: the stdlib's answer
            return _std_encode(value)
        if b"null" in out:  # a None, or a NaN or infinity orjson wrote as null: json decides
            return _std_encode(value)
        return out.decode()

    def quote(text: str) -> str:
        try:
            out: bytes = o_dumps(text, option=options)
            return out.decode()
        except TypeError:  # a lone surrogate, or a subclass of str
            return _std_encode(text)

    return loads, dumps, quote


def _std_checked_loads(data: bytes | bytearray | str) -> Any:
    _check_depth(data)
    return _std_loads(data)


_chosen: bool | None = None  # (None: not chosen yet; then whether orjson does the work)


def choose(speedups: bool | None = None) -> bool:
    """Choose the codec (``None``: from ``BKJOB_ASYNC_NO_SPEEDUPS``); return whether orjson was
    chosen (``False`` when it is not installed)."""
    global _chosen, _loads, _dumps, _quote
    orjson = _orjson_if(speedups)
    if orjson is None:
        _loads, _dumps, _quote = _std_checked_loads, _std_encode, _std_encode
    else:
        _loads, _dumps, _quote = _with_orjson(orjson)
    globals().update(loads=_loads, dumps=_dumps, quote=_quote)  # (later calls go straight)
    _chosen = orjson is not None
    return _chosen


def speedups() -> bool:
    """Return whether ``orjson`` does the work (the ``speedups`` extra installed, not turned off)."""
    return choose() if _chosen is None else _chosen


# Until the choice is made, ``loads``, ``dumps`` and ``quote`` make it; ``choose`` then puts the
# chosen functions in their place, so ``_json.loads(...)`` costs nothing more. A name imported
# before (``from ._json import loads``) keeps the function below: one call more.


def loads(data: bytes | bytearray | str) -> Any:
    """Return the value of JSON ``data`` (bytes or text), as ``json.loads`` does."""
    if _chosen is None:
        choose()
    return _loads(data)


def dumps(value: Any) -> str:
    """Return ``value`` as compact JSON text (UTF-8 as is, no NaN)."""
    if _chosen is None:
        choose()
    return _dumps(value)


def quote(text: str) -> str:
    """Return ``text`` as a JSON string literal (what ``dumps`` makes of it)."""
    if _chosen is None:
        choose()
    return _quote(text)


_loads: _Loads = loads
_dumps: _Dumps = dumps
_quote: _Dumps = quote
