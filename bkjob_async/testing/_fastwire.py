"""Rule: the job status body's bytes are exactly what ``_render``'s dicts encode to.

The job status body, with host rows formatted as text: the simulator's hottest answer.

Rule: the bytes are exactly what ``_render``'s dicts encode to (``encode_compact`` for the
gateway, ``encode_esb`` for the ESB); tests compare the two. Only the host rows, the bulk of
the body, skip the dicts: each host keeps its opening ``{"bk_host_id":...`` pre-encoded.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ._engine import NO_EXIT, Job, Step
from ._render import FINISHED_ERROR_CODES, job_status_v2, job_status_v3

if TYPE_CHECKING:
    import datetime as _dt

    from ._hosts import SimHost

__all__ = ["job_status_body"]


class _Style:
    """How one encoder spells separators and strings."""

    __slots__ = ("colon", "comma", "esb")

    def __init__(self, esb: bool) -> None:
        self.esb = esb
        self.colon, self.comma = (": ", ", ") if esb else (":", ",")

    def dumps(self, value: object) -> str:
        if self.esb:
            return json.dumps(value)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def text(self, value: str) -> str:
        return '""' if not value else json.dumps(value, ensure_ascii=self.esb)


_COMPACT, _ESB = _Style(esb=False), _Style(esb=True)


def job_status_body(
    job: Job, now: int, *, v2: bool, with_hosts: bool, esb: bool, tz: _dt.tzinfo
) -> bytes:
    """Return the encoded ``data`` of ``get_job_instance_status`` (v2 always lists hosts)."""
    style = _ESB if esb else _COMPACT
    if v2:
        data = job_status_v2(job, now, tz, rows=False)
        steps, key = [b["step_instances"][0] for b in data["blocks"]], "step_ip_status"
    else:
        data = job_status_v3(job, now, with_hosts=False)
        steps, key = data["step_instance_list"], "step_ip_result_list"
    if not (v2 or with_hosts):
        return style.dumps(data).encode()
    rows = {}
    for index, (step_data, step) in enumerate(zip(steps, job.steps, strict=True)):
        marker = f"\x00{index}\x00"
        step_data[key] = marker
        rows[json.dumps(marker)] = _v2_rows(step, now, style) if v2 else _v3_rows(step, now, style)
    text = style.dumps(data)
    for marker, value in rows.items():
        text = text.replace(marker, value, 1)
    return text.encode()


def _prefix(host: SimHost, style: _Style, v2: bool) -> str:
    key = (style.esb, v2)
    found = host.prefixes.get(key)
    if found is None:
        c, s = style.colon, style.comma
        ip = style.text(host.ip)
        if v2:
            found = f'{{"ip"{c}{ip}{s}"bk_cloud_id"{c}{host.bk_cloud_id}{s}"status"{c}'
        else:
            found = (
                f'{{"bk_host_id"{c}{host.bk_host_id}{s}"ip"{c}{ip}{s}'
                f'"bk_cloud_id"{c}{host.bk_cloud_id}{s}"status"{c}'
            )
        host.prefixes[key] = found
    return found


def _v2_rows(step: Step, now: int, style: _Style) -> str:
    rnd = step.current_round
    if rnd is None:
        return "[]"
    parts = [
        f"{_prefix(host, style, True)}{rnd.status(index, now)}}}"
        for index, host in enumerate(step.hosts)
    ]
    return f"[{style.comma.join(parts)}]"


def _v3_rows(step: Step, now: int, style: _Style) -> str:
    rnd = step.current_round
    if rnd is None:
        return "[]"
    c, s = style.colon, style.comma
    run, end, final, exits, tags = rnd.run, rnd.end, rnd.final, rnd.exit, rnd.tags
    parts = []
    for index, host in enumerate(step.hosts):
        started, ended = run[index], end[index]
        if now < started:
            status, exit_code, error, times = 5, "null", 0, ("null", "null", "null")
        elif now < ended:
            status, exit_code, error, times = 7, "null", 115, (str(started), "null", "null")
        else:
            status, code = final[index], exits[index]
            exit_code = "null" if code == NO_EXIT else str(code)
            error = FINISHED_ERROR_CODES.get(status, -1)
            times = (str(started), str(ended), str(ended - started))
        parts.append(
            f"{_prefix(host, style, False)}{status}{s}"
            f'"tag"{c}{style.text(tags.get(index, ""))}{s}"exit_code"{c}{exit_code}{s}'
            f'"error_code"{c}{error}{s}"start_time"{c}{times[0]}{s}'
            f'"end_time"{c}{times[1]}{s}"total_time"{c}{times[2]}}}'
        )
    return f"[{s.join(parts)}]"
