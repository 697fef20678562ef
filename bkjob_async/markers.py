"""Results written into logs, read as values: pure functions of text, no I/O here.

Three readers of one log text: ``sops_vars`` (bk-sops' ``<SOPS_VAR>key:value</SOPS_VAR>``, read
as bk-sops reads it), ``tagged_json`` (a JSON value between tags on one line, blueking-dbm's
``<ctx>{...}</ctx>``) and ``findall`` (a caller's regular expression). ``extract`` applies one
reader to each host of a job's logs, the last step's only or every step's, as the caller says.
A log cut at bk-job's 5 MB cap (``HostLog.truncated``) may have lost markers: ``extract``
reports it (``LogTruncatedError``) rather than return a silent partial answer.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from .models.instances import Host, HostKey
    from .models.logs import HostLog

__all__ = [
    "SOPS_VAR_PATTERN",
    "LogTruncatedError",
    "MarkerError",
    "cut_marker",
    "extract",
    "findall",
    "host_texts",
    "sops_vars",
    "tagged_json",
]

T = TypeVar("T")

#: bk-sops' own pattern (``LOG_VAR_SEARCH_CONFIGS`` in its ``job/base.py``), with ``:`` between
#: a key and its value.
SOPS_VAR_PATTERN = r"<SOPS_VAR>(.+?)</SOPS_VAR>"


class MarkerError(ValueError):
    """A host's log lacks the marker a reader needs, or holds one that cannot be read."""

    def __init__(self, message: str, host: Host | None = None) -> None:
        super().__init__(message if host is None else f"{host}: {message}")
        self.host = host


class LogTruncatedError(MarkerError, Generic[T]):
    """Hosts' logs reached bk-job's cap (``MAX_LOG_BYTES``): markers printed past it are lost.

    ``values`` holds what every host's log gave all the same, ``hosts`` the cut ones and
    ``cut`` the marker each cut log ends inside (``cut_marker``), if any.
    """

    def __init__(self, values: dict[Host, T], cut: dict[Host, str | None]) -> None:
        named = ", ".join(
            f"{host}" + (f" (inside {tag})" if tag else "") for host, tag in cut.items()
        )
        super().__init__(
            f"{len(cut)} host log(s) cut at bk-job's 5 MB cap, markers past it lost: {named}"
        )
        self.values, self.cut, self.hosts = values, cut, tuple(cut)


_TAG = re.compile(r"(?:<|&lt;)(/?)([A-Za-z_][\w.-]*)(?:>|&gt;)")


def cut_marker(text: str | None) -> str | None:
    """Return the opening tag a log ends inside (``<SOPS_VAR>``, say), or ``None``.

    The last tag opened and not closed after it: what a cut at the end of the log split.
    """
    tags = list(_TAG.finditer(text or ""))
    closed: set[str] = set()
    for match in reversed(tags):
        name = match.group(2)
        if match.group(1):
            closed.add(name)
        elif name not in closed:
            return match.group(0)
    return None


def sops_vars(
    text: str | None, *, patterns: Sequence[tuple[str, str]] = ((SOPS_VAR_PATTERN, ":"),)
) -> dict[str, str]:
    """Return the variables of ``text`` as bk-sops reads them (``get_sops_var_dict_from_log_text``).

    Each ``(pattern, separator)`` of ``patterns`` (bk-sops' ``LOG_VAR_SEARCH_CONFIGS``, with its
    deployment's ``JOB_LOG_VAR_SEARCH_CUSTOM_PATTERNS`` after the first) is searched over the
    whole text, a marker's key and value may span lines; then the same pattern with ``<`` and
    ``>`` HTML-escaped (``&lt;``, ``&gt;``), so an escaped marker beats a raw one of the same key.
    A marker splits once on the separator; one without it or with an empty key is skipped; an
    empty value is kept; nothing is stripped or unescaped; of one key the last marker wins.
    """
    found: dict[str, str] = {}
    if not text:
        return found
    for pattern, separator in patterns:
        escaped = pattern.replace("<", "&lt;").replace(">", "&gt;")
        markers = re.findall(pattern, text, re.DOTALL) + re.findall(escaped, text, re.DOTALL)
        for marker in markers:
            if separator not in marker:
                continue
            key, value = marker.split(separator, 1)
            if key:
                found[key] = value
    return found


def tagged_json(text: str | None, tag: str = "ctx") -> Any:
    """Return the JSON value of the first ``<tag>...</tag>`` of ``text`` that sits on one line.

    blueking-dbm's reading of its ``<ctx>`` line (``re.search("<ctx>(?P<context>.+?)</ctx>")``
    then ``json.loads``).

    :raises MarkerError: no such marker, or its text is not JSON.
    """
    if not isinstance(tag, str) or not tag:
        raise TypeError(f"tag must be a non-empty str, not {tag!r}")
    match = re.search(f"<{re.escape(tag)}>(.+?)</{re.escape(tag)}>", text or "")
    if match is None:
        raise MarkerError(f"no <{tag}>...</{tag}> line in the log")
    try:
        return json.loads(match.group(1))
    except ValueError as exc:
        raise MarkerError(f"<{tag}> holds no JSON: {exc}") from None


def findall(text: str | None, pattern: str | re.Pattern[str]) -> list[Any]:
    """Return ``re.findall(pattern, text)``: each match's text, its group, or its groups' tuple."""
    return re.findall(pattern, text or "")


def host_texts(
    logs: Mapping[int, Sequence[HostLog]], *, steps: Literal["last", "all"] = "last"
) -> dict[HostKey, tuple[Host, str]]:
    """Return each host's log text: of the last step of ``logs``, or of every step joined.

    ``logs`` is a job's script logs by step id, in the steps' order (what ``host_logs``
    returns). With ``steps="all"`` a host's texts are joined with a newline in step order, as
    bk-sops joins the logs it reads; empty logs are left out of the join. A host without text
    maps to ``""``.
    """
    if steps not in ("last", "all"):
        raise ValueError(f"steps must be 'last' or 'all', not {steps!r}")
    chosen: Iterable[Sequence[HostLog]] = logs.values()
    if steps == "last":
        chosen = list(chosen)[-1:]
    parts: dict[HostKey, tuple[Host, list[str]]] = {}
    for step_logs in chosen:
        for log in step_logs:
            _, texts = parts.setdefault(log.host.key, (log.host, []))
            if log.log_content:
                texts.append(log.log_content)
    return {key: (host, "\n".join(texts)) for key, (host, texts) in parts.items()}


def extract(
    logs: Mapping[int, Sequence[HostLog]],
    reader: Callable[[str], T] = sops_vars,  # type: ignore[assignment]
    *,
    steps: Literal["last", "all"] = "last",
    truncated: Literal["raise", "keep"] = "raise",
) -> dict[Host, T]:
    """Return ``reader(text)`` for each host of ``logs`` (by step id, as ``host_texts`` reads it).

    ``reader`` is ``sops_vars`` by default, or ``tagged_json``, or any function of one text
    (``functools.partial(findall, pattern=...)``, say). A log read cut at bk-job's cap
    (``HostLog.truncated``) raises ``LogTruncatedError`` once every host is read, carrying
    every host's values; ``truncated="keep"`` returns them instead.

    :raises MarkerError: the reader's, naming the host.
    :raises LogTruncatedError: a log read was cut, and ``truncated`` is ``"raise"``.
    """
    if truncated not in ("raise", "keep"):
        raise ValueError(f"truncated must be 'raise' or 'keep', not {truncated!r}")
    chosen = list(logs.values())
    if steps == "last":
        chosen = chosen[-1:]
    cut = {log.host.key: log for rows in chosen for log in rows if log.truncated}
    values: dict[Host, T] = {}
    for host, text in host_texts(logs, steps=steps).values():
        try:
            values[host] = reader(text)
        except MarkerError as exc:
            if host.key not in cut:
                raise MarkerError(str(exc), host) from None
    if cut and truncated == "raise":
        raise LogTruncatedError(
            values, {log.host: cut_marker(log.log_content) for log in cut.values()}
        )
    return values
