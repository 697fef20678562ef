"""Every API's spelling, on every flavor, sends what it sent when the digests were recorded.

For each row of the endpoint table and each flavor that serves it, the argument sets that
``scripts/gen_api_keys.py`` probes (each required argument's samples, with each optional one
and each pair of them) are spelled, and what comes out is written down: the parameters in
their order (a request's JSON body is this dict as it is), the secrets it marks, the batches,
or the error's type and message. ``spelling_digests.json`` holds a digest of that per row
and flavor; a spelling that sends one byte differently, or refuses differently, fails here.
Record again (``RECORD_SPELLINGS=1``) only when a request is meant to change.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import inspect
import json
import os
import pathlib
from typing import Any

import pytest

from bkjob_async._protocol import TABLE, Batches
from bkjob_async._protocol._api import Secrets

from .test_api_keys import generator

SAMPLES = pathlib.Path(__file__).parent / "spelling_digests.json"


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return [type(value).__name__, value.value]
    if isinstance(value, dict):
        return [[k, _plain(v)] for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return [type(value).__name__, value]


def _outcome(spell: Any, args: dict[str, Any], positional: set[str]) -> Any:
    try:
        sent = spell(
            *(v for k, v in args.items() if k in positional),
            **{k: v for k, v in args.items() if k not in positional},
        )
    except Exception as exc:  # (the refusal is part of what is recorded)
        return ["refused", type(exc).__name__, str(exc)]
    if isinstance(sent, Batches):
        return ["batches", [_outcome_params(one) for one in sent]]
    return _outcome_params(sent)


def _outcome_params(params: Any) -> Any:
    secrets = list(params.secrets) if isinstance(params, Secrets) else []
    return [type(params).__name__, _plain(params), secrets]


def digests() -> dict[str, str]:
    gen = generator()
    known = gen.samples()
    found = {}
    for name, row in TABLE.items():
        for flavor, binding in row.bindings.items():
            spell = binding.spell
            parameters = inspect.signature(spell).parameters
            positional = {n for n, p in parameters.items() if p.kind is p.POSITIONAL_ONLY}
            outcomes = [_outcome(spell, args, positional) for args in gen.attempts(spell, known)]
            text = json.dumps(outcomes, ensure_ascii=False, default=repr)
            found[f"{name} {flavor.value}"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return found


@pytest.mark.untraced  # (CPU-bound, like test_api_keys' generator)
def test_every_spelling_sends_what_was_recorded() -> None:
    found = digests()
    if os.environ.get("RECORD_SPELLINGS"):
        SAMPLES.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    recorded = json.loads(SAMPLES.read_text(encoding="utf-8"))
    assert set(found) == set(recorded), "a row or flavor came or went: record again"
    changed = sorted(k for k in found if found[k] != recorded[k])
    assert not changed, f"these spellings send otherwise than recorded: {changed}"
