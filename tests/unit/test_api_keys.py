"""``bkjob_async/_protocol/_keys.py`` is what ``scripts/gen_api_keys.py`` writes today.

The module lists the keys each API's spelling sends on each flavor (what the SDK-shaped calls
of ``bkjob_async.compat`` say bk-job reads); a spelling that changes its keys fails here until
``make api-keys`` is run again.
"""

from __future__ import annotations

import importlib.util
import pathlib
from typing import Any

import pytest

from bkjob_async._protocol import TABLE
from bkjob_async._protocol._keys import SPELLED

ROOT = pathlib.Path(__file__).resolve().parents[2]


def script(name: str) -> Any:
    """Return ``scripts/<name>.py`` as a module (``scripts/`` is no package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generator() -> Any:
    return script("gen_api_keys")


@pytest.mark.untraced  # (CPU-bound: tracing the generator overruns the 60 s timeout)
def test_the_generated_module_is_current() -> None:
    written = (ROOT / "bkjob_async" / "_protocol" / "_keys.py").read_text(encoding="utf-8")
    assert written == generator().render(), "run `make api-keys`"


def test_every_row_and_flavor_has_its_keys() -> None:
    assert set(SPELLED) == set(TABLE)
    for name, row in TABLE.items():
        assert set(SPELLED[name]) == {flavor.value for flavor in row.bindings}, name
    assert "script_param" in SPELLED["fast_execute_script"]["esb-jobv3"]
    assert "bk_job_id" in SPELLED["execute_job_plan"]["esb-v2"]
