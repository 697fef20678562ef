"""Mask secrets in text and JSON-like values; pure, no I/O: every echo of a secret passes here.

The masking contract. A ``Redactor`` knows the secrets of one client (``app_secret``,
``bk_token``, ``access_token``). Every message, ``repr``, log record and traceback this package
makes from what a server or a parser sent goes through it first: the protocol masks what it
deciphers (error messages, request ids, ``ApiError.permission``, response excerpts), the
transport masks its errors (an HTTP parser quoting response bytes), and a failed structuring
drops the chain that quoted the raw value.

- A secret of 8 characters or more is masked in every form a server or a parser can echo:
  as sent; JSON-escaped (``\\"``, ``\\\\``, ``\\/``), ``\\u``- or ``\\x``-escaped (as JSON,
  Java and Python ``repr`` write it, UTF-8 bytes included), URL-encoded (``%XX``, ``+``),
  escaped twice (a ``repr`` of JSON), and base64 of its UTF-8 bytes (standard and URL-safe
  alphabets, at each of the three byte alignments it can have inside a longer encoding).
  Any run of 8 or more consecutive characters of it is masked too, so a secret cut short
  (by a body cut mid-secret, or an excerpt) shows at most 7 of its characters.
- Masking replaces whole occurrences with ``***`` and never single letters, so a message
  stays readable (``get_job_instance`` stays whole whatever the secret).
- Below 8 characters masking is best effort: a short secret is masked, in the same forms
  except base64, only where it stands alone (not inside a longer word), since masking every
  occurrence of, say, ``s`` would garble every message and reveal the secret. Use long secrets.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

__all__ = ["MASK", "MIN_LENGTH", "Redactor"]

#: What a masked secret reads as.
MASK = "***"
#: Secrets at least this long are masked in every form; shorter ones on a best-effort basis.
MIN_LENGTH = 8

# One escape of JSON, Java or Python repr: a surrogate pair, \uXXXX, \UXXXXXXXX, \xXX, \c.
_BACKSLASH = re.compile(
    r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})"
    r"|\\u([0-9a-f]{4})|\\U([0-9a-f]{8})|\\x([0-9a-f]{2})|\\(.)",
    re.IGNORECASE | re.DOTALL,
)
_SHORT_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0"}
_PERCENT = re.compile(r"%([0-9a-f]{2})|\+", re.IGNORECASE)


class _View(NamedTuple):
    """Text decoded one way: ``chars[i]`` stands for ``text[starts[i]:ends[i]]``."""

    chars: str
    starts: list[int]
    ends: list[int]


def _unescape(match: re.Match[str]) -> str:
    high, low, unit, wide, byte, char = match.groups()
    if high is not None:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + int(low, 16) - 0xDC00)
    code = unit or byte
    if code is not None:
        return chr(int(code, 16))
    if wide is not None:
        value = int(wide, 16)
        return chr(value) if value <= 0x10FFFF else match.group()
    return _SHORT_ESCAPES.get(char, char)


def _unquote(match: re.Match[str]) -> str:
    code = match.group(1)
    return " " if code is None else chr(int(code, 16))


def _decoded(view: _View, pattern: re.Pattern[str], replace: Any) -> _View | None:
    """Return ``view`` with every match of ``pattern`` decoded to one character; ``None`` if none."""
    chars, starts, ends = view
    out: list[str] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    pos = 0
    for match in pattern.finditer(chars):
        begin, end = match.span()
        out.append(chars[pos:begin])
        out_starts += starts[pos:begin]
        out_ends += ends[pos:begin]
        out.append(replace(match))
        out_starts.append(starts[begin])
        out_ends.append(ends[end - 1])
        pos = end
    if not pos:
        return None
    out.append(chars[pos:])
    out_starts += starts[pos:]
    out_ends += ends[pos:]
    return _View("".join(out), out_starts, out_ends)


def _views(text: str) -> list[_View]:
    """Return ``text`` decoded every way an echo may have encoded it, up to two levels deep."""
    if "\\" not in text and "%" not in text and "+" not in text:
        return []
    raw = _View(text, list(range(len(text))), list(range(1, len(text) + 1)))
    found: list[_View] = []
    layer = [raw]
    for _ in range(2):
        layer = [
            decoded
            for view in layer
            for pattern, replace in ((_BACKSLASH, _unescape), (_PERCENT, _unquote))
            if (decoded := _decoded(view, pattern, replace)) is not None
        ]
        found += layer
    return found


def _base64_cores(secret: bytes) -> set[str]:
    """Return the part of the base64 of ``secret`` that does not depend on its neighbours.

    Inside a longer encoding a secret starts at one of three byte alignments; for each, the
    characters whose 6 bits all come from the secret are the same whatever surrounds it.
    """
    cores = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret).decode("ascii")
        start, end = -(-8 * shift // 6), 8 * (shift + len(secret)) // 6
        core = encoded[start:end]
        cores |= {core, core.replace("+", "-").replace("/", "_")}
    return cores


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


class Redactor:
    """Mask the given secrets in text (``redactor(text)``) and in JSON-like values."""

    __slots__ = ("_cores", "_grams", "_secrets", "_short")

    def __init__(self, secrets: Iterable[str]) -> None:
        unique = sorted({s for s in secrets if isinstance(s, str) and s}, key=len, reverse=True)
        self._secrets = tuple(unique)
        #: Every 8-character window of a long secret: a run of 8 or more characters of it is
        #: the union of such windows, so masking every window found masks every run.
        self._grams: set[str] = set()
        self._cores: set[str] = set()
        self._short: list[str] = []
        for secret in unique:
            encoded = secret.encode("utf-8", "surrogatepass")
            # \xXX and %XX escapes decode to one character per UTF-8 byte: match that form too.
            needles = {secret, encoded.decode("latin-1")}
            if len(secret) < MIN_LENGTH:
                self._short += needles
                continue
            self._cores |= _base64_cores(encoded)
            for needle in needles:
                self._grams.update(
                    needle[i : i + MIN_LENGTH] for i in range(len(needle) - MIN_LENGTH + 1)
                )

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __repr__(self) -> str:
        return f"<Redactor of {len(self._secrets)} secrets>"

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret masked as the module docstring says."""
        if not self._secrets or not text:
            return text
        raw = _View(text, [], [])
        spans = self._spans(raw, identity=True)
        for view in _views(text):
            spans += self._spans(view, identity=False)
        return _masked(text, spans) if spans else text

    def data(self, value: Any) -> Any:
        """Return a JSON-like ``value`` with secrets masked in every string, keys included.

        Mappings come back as dicts and tuples as lists. The walk is iterative: a value nested
        however deep (a server's answer) costs no stack.
        """
        out = self._copy(value)
        pending = [(value, out)] if isinstance(out, (dict, list)) else []
        while pending:
            source, copy = pending.pop()
            if isinstance(copy, dict):
                for key, item in source.items():
                    copy[self(key) if isinstance(key, str) else key] = inner = self._copy(item)
                    if isinstance(inner, (dict, list)):
                        pending.append((item, inner))
            else:
                for item in source:
                    copy.append(inner := self._copy(item))
                    if isinstance(inner, (dict, list)):
                        pending.append((item, inner))
        return out

    def _copy(self, value: Any) -> Any:
        """Return ``value`` masked if a string, an empty container to fill if one, else itself."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {}
        if isinstance(value, (list, tuple)):
            return []
        return value

    def _spans(self, view: _View, *, identity: bool) -> list[tuple[int, int]]:
        """Return the spans of ``text`` where ``view`` of it shows a secret."""
        chars = view.chars
        found: list[tuple[int, int]] = []
        for needle in (*self._grams, *self._cores):
            found += [(at, at + len(needle)) for at in _occurrences(chars, needle)]
        if not identity:
            found = [(view.starts[a], view.ends[b - 1]) for a, b in found]
        for needle in self._short:
            for a in _occurrences(chars, needle):
                b = a + len(needle)
                if _alone(chars, a, b):
                    found.append((a, b) if identity else (view.starts[a], view.ends[b - 1]))
        return found


def _occurrences(chars: str, needle: str) -> Iterable[int]:
    at = chars.find(needle)
    while at >= 0:
        yield at
        at = chars.find(needle, at + 1)


def _alone(text: str, start: int, end: int) -> bool:
    """Tell whether ``text[start:end]`` is not part of a longer word (as decoded)."""
    return (start == 0 or not _word(text[start - 1])) and (end == len(text) or not _word(text[end]))


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    """Return ``text`` with each of the (merged) ``spans`` replaced by ``MASK``."""
    parts = []
    pos = 0
    spans.sort()
    start, end = spans[0]
    for a, b in spans[1:]:
        if a <= end:
            end = max(end, b)
            continue
        parts += [text[pos:start], MASK]
        pos, (start, end) = end, (a, b)
    parts += [text[pos:start], MASK, text[end:]]
    return "".join(parts)
