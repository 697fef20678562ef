"""What the depth bound of ``_json.loads`` costs (issue 46, point 1), as a ratio in one run.

``loads`` scans a text for nesting past ``MAX_DEPTH`` before parsing it (C passes: see
``bkjob_async._json._check_depth``). Measured here on status answers of 10, 200 and 2,000
hosts: ``loads`` against the parser it calls (orjson's, when installed, and the standard
library's), best of several rounds each, the two interleaved. Printed, not asserted (it moves
with the machine's load); asserted: both give the same value.

Run: ``.venv/bin/pytest -q -s benchmarks/test_json_depth.py``.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from bkjob_async import _json


def _answer(hosts: int) -> bytes:
    rows = [
        {
            "bk_host_id": 1000 + i,
            "ip": f"10.0.{i // 250}.{i % 250}",
            "bk_cloud_id": 0,
            "status": 9,
            "tag": "",
            "exit_code": 0,
            "error_code": 0,
            "start_time": 1_700_000_000_000,
            "end_time": 1_700_000_001_000,
            "total_time": 1000,
        }
        for i in range(hosts)
    ]
    data = {
        "finished": True,
        "job_instance": {"job_instance_id": 1, "name": "deploy", "status": 3},
        "step_instance_list": [{"step_instance_id": 2, "status": 3, "step_ip_result_list": rows}],
    }
    return json.dumps({"result": True, "code": 0, "message": "", "data": data}).encode()


def _best(call: Callable[[], Any], rounds: int = 7) -> float:
    """Return the best time per call over ``rounds`` rounds (each long enough to measure)."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            call()
        if time.perf_counter() - start > 0.02:
            break
        number *= 2
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            call()
        best = min(best, (time.perf_counter() - start) / number)
    return best


@pytest.mark.parametrize("hosts", [10, 200, 2000])
def test_the_depth_check_costs_a_fraction_of_the_parse(hosts: int) -> None:
    body = _answer(hosts)
    parsers: list[tuple[str, Callable[[bytes], Any]]] = [("json", json.loads)]
    if importlib.util.find_spec("orjson") is not None and _json.speedups():
        import orjson

        parsers.insert(0, ("orjson", orjson.loads))
    name, parse = parsers[0]  # the parser _json.loads itself calls
    assert _json.loads(body) == parse(body)
    check = _best(lambda: _json._check_depth(body))
    alone = _best(lambda: parse(body))
    print(
        f"\n{hosts:5} hosts, {len(body):8,} bytes: depth check {check * 1e6:8.1f} us, "
        f"{name}.loads {alone * 1e6:8.1f} us: the check is {check / alone:5.2f}x the parse"
    )
