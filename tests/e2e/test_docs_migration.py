"""The migration page maps every call of the official SDK, and its examples print what it shows.

The SDK (``bkapi-component-open``, a test dependency) is read itself: each operation of its
``jobv3`` group must have its row on ``docs/howto/migrate-from-the-official-sdk.md``, naming a
method of ``BkJobClient`` that sends that same API (the endpoint table's row of that name), with
the arguments the method requires. The v2 table names each ESB v2 name of the endpoint table.
The key-by-key table's arrows name parameters the methods have, and its answers attributes the
models have. Each Python example followed by a ``text`` block runs and prints exactly that.
"""

from __future__ import annotations

import inspect
import itertools
import pathlib
import re
import sys
import typing
from typing import Any

import anyio
import attrs
import pytest
from bkapi_component.open import shortcuts
from bkapi_component.open.client import Jobv3Group

import bkjob_async
import bkjob_async.models
from bkjob_async import ApiFlavor, BkJobClient, _protocol
from bkjob_async._protocol import TABLE

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs/howto/migrate-from-the-official-sdk.md"
TEXT = PAGE.read_text(encoding="utf-8")
ROW = re.compile(r"^\| `(?P<sdk>\w+)` \| `(?P<ours>[\w]+)(?:\((?P<args>[^)]*)\))?`", re.MULTILINE)
BLOCK = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def section(title: str) -> str:
    """Return the text of the page's section whose heading starts with ``title``."""
    after = TEXT.split(f"\n## {title}", 1)[1]
    return after.split("\n## ", 1)[0]


SDK_CALLS = sorted(name for name in vars(Jobv3Group) if not name.startswith("_") and name != "bind")
ROWS = {m["sdk"]: (m["ours"], m["args"]) for m in ROW.finditer(section("Every `client.jobv3`"))}
V2_ROWS = {m["sdk"]: m["ours"] for m in ROW.finditer(section("The ESB v2 names"))}


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
    v2 = {row.bindings[ApiFlavor.ESB_V2].name: name for name, row in TABLE.items()
          if ApiFlavor.ESB_V2 in row.bindings}  # fmt: skip
    assert v2 == V2_ROWS


EXAMPLES = [
    (m["body"], n["body"])
    for m, n in itertools.pairwise(BLOCK.finditer(TEXT))
    if m["lang"] == "python" and n["lang"] == "text"
]


def test_every_python_example_shows_its_output() -> None:
    python = [m for m in BLOCK.finditer(TEXT) if m["lang"] == "python"]
    assert len(EXAMPLES) == len(python) >= 2


@pytest.mark.parametrize(("program", "shown"), EXAMPLES, ids=lambda text: text[:0] or "example")
async def test_the_example_prints_what_the_page_shows(program: str, shown: str) -> None:
    with anyio.fail_after(60):
        done = await anyio.run_process([sys.executable, "-c", program], check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == shown
    assert "-secret" not in done.stdout.decode()


def test_the_sdk_s_names_are_its_own() -> None:
    named = set(re.findall(r"\bget_client_by_\w+", TEXT))
    assert {"get_client_by_user", "get_client_by_request"} <= named
    assert named <= set(vars(shortcuts))  # (the SDK's own shortcuts: none misnamed)


# --- the key-by-key table ------------------------------------------------------------------------

#: A row of the key table: an API's first row names it, the rows below it leave that cell empty.
KEY_ROW = re.compile(
    r"^\| (?:`(?P<api>\w+)`[^|]*)?\| *(?P<keys>[^|]*?) *\| *(?P<answer>.*?) *\|$", re.MULTILINE
)
ARROW = re.compile(r"`[\w.\[\]{}, ]+` (?:\([^)]*\) )?→ `(?P<target>[\w.\[\]()]+)")


def _key_rows() -> dict[str, tuple[str, str]]:
    """Return each API's keys and answers, its rows joined."""
    rows: dict[str, tuple[str, str]] = {}
    api = ""
    for m in KEY_ROW.finditer(section("Keys, API by API")):
        api = m["api"] or api
        assert api, m[0]  # (a row under the header names its API)
        keys, answer = rows.get(api, ("", ""))
        rows[api] = (f"{keys}; {m['keys']}".strip("; "), f"{answer}; {m['answer']}".strip("; "))
    return rows


KEY_ROWS = _key_rows()
FILTERS = {
    name: set(typing.get_type_hints(cls))
    for module in (_protocol.catalog, _protocol.crons, _protocol.jobs)
    for name, cls in vars(module).items()
    if name.endswith("Filters") and isinstance(cls, type)
}


def _parameters(method: Any) -> set[str]:
    found = {"scope"}
    for parameter in inspect.signature(method).parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            found |= FILTERS[str(parameter.annotation).removeprefix("Unpack[").rstrip("]")]
        else:
            found.add(parameter.name)
    return found


def _element(hint: Any) -> Any:
    """Return the model inside ``X | None`` or ``tuple[X, ...]``."""
    args = [a for a in typing.get_args(hint) if a is not type(None) and a is not Ellipsis]
    return _element(args[0]) if args else hint


def _walk(cls: Any, path: str) -> bool:
    """Tell whether ``.a[].b`` names attributes, properties or methods of ``cls``'s models."""
    for part in filter(None, path.split(".")):
        name = part.split("(")[0].removesuffix("[]")
        cls = _element(cls)
        if attrs.has(cls) and name in attrs.fields_dict(cls):
            cls = typing.get_type_hints(cls)[name]
        else:
            return hasattr(cls, name)  # (a property or a method: the rest is its answer)
    return True


def test_the_key_table_covers_the_apps_apis() -> None:
    assert len(KEY_ROWS) >= 30
    assert set(KEY_ROWS) <= set(TABLE)


@pytest.mark.parametrize("api", sorted(KEY_ROWS))
def test_each_arrow_names_a_parameter_and_an_attribute(api: str) -> None:
    method = getattr(BkJobClient, api)
    keys, answer = KEY_ROWS[api]
    arguments = [m["target"] for m in ARROW.finditer(keys)]
    assert arguments or not keys.strip(), api
    assert set(arguments) <= _parameters(method), api
    names = {**vars(bkjob_async.models), **vars(bkjob_async)}
    returns = eval(inspect.signature(method).return_annotation, names)  # (a model's name)
    for m in re.finditer(r"→ `(?P<path>(?:\[\])?\.[\w.\[\]()]+)`", answer):
        assert _walk(returns, m["path"].removeprefix("[]")), (api, m["path"])
