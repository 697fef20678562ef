"""The migration page maps every call of the official SDK, and its example prints what it shows.

The SDK (``bkapi-component-open``, a test dependency) is read itself: each operation of its
``jobv3`` group must have its row on ``docs/howto/migrate-from-the-official-sdk.md``, naming a
method of ``BkJobClient`` that sends that same API (the endpoint table's row of that name), with
the arguments the method requires. The v2 table names each ESB v2 name of the endpoint table.
"""

from __future__ import annotations

import inspect
import itertools
import pathlib
import re
import sys

import anyio
import pytest
from bkapi_component.open.client import Jobv3Group

from bkjob_async import ApiFlavor, BkJobClient
from bkjob_async._protocol import TABLE

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs/howto/migrate-from-the-official-sdk.md"
TEXT = PAGE.read_text(encoding="utf-8")
ROW = re.compile(r"^\| `(?P<sdk>\w+)` \| `(?P<ours>[\w]+)(?:\((?P<args>[^)]*)\))?`", re.MULTILINE)
BLOCK = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)

SDK_CALLS = sorted(name for name in vars(Jobv3Group) if not name.startswith("_") and name != "bind")
ROWS = {m["sdk"]: (m["ours"], m["args"]) for m in ROW.finditer(TEXT.split("## The ESB v2")[0])}
V2_ROWS = {m["sdk"]: m["ours"] for m in ROW.finditer(TEXT.split("## The ESB v2")[1])}


def test_the_sdk_is_read_whole() -> None:
    assert len(SDK_CALLS) >= 51
    assert set(ROWS) == set(SDK_CALLS)


@pytest.mark.parametrize("call", SDK_CALLS)
def test_each_sdk_call_maps_to_the_method_that_sends_it(call: str) -> None:
    ours, args = ROWS[call]
    if call == "callback_protocol":  # what bk-job POSTs to a caller: no request to send
        assert ours == "CallbackReceiver"
        return
    assert ours == call
    assert call in TABLE, f"{call}: no row of that name"
    method = getattr(BkJobClient, ours)
    parameters = list(inspect.signature(method).parameters.values())[1:]
    required = [p.name for p in parameters if p.default is p.empty and p.kind != p.VAR_KEYWORD]
    optional = len(required) < len(parameters)
    assert args is not None
    assert [a.strip() for a in args.split(",") if a.strip()] == required + ["..."] * optional


def test_the_v2_table_names_every_v2_name_of_the_table() -> None:
    v2 = {row.wires[ApiFlavor.ESB_V2].name: name for name, row in TABLE.items()
          if ApiFlavor.ESB_V2 in row.wires}  # fmt: skip
    assert v2 == V2_ROWS


async def test_the_example_prints_what_the_page_shows() -> None:
    found = list(BLOCK.finditer(TEXT))
    examples = [(m["body"], n) for m, n in itertools.pairwise(found) if m["lang"] == "python"]
    assert len(examples) == 1
    ((program, shown),) = examples
    assert shown["lang"] == "text"
    with anyio.fail_after(40):
        done = await anyio.run_process([sys.executable, "-c", program], check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == shown["body"]
    assert "demo-secret" not in done.stdout.decode()
