"""The facades are what ``scripts/gen_facades.py`` writes from the endpoint table, and editors see them.

``bkjob_async/client.py`` has one ``async def`` per row of the table and ``bkjob_async/sync.py``
the blocking twin of each ``async def`` of the async client, between marker lines the generator
rewrites (``make facades``): a row, a spelling, a reader or a hand-written ``async def`` that
changes fails here until it is run again. Jedi (IPython, Jupyter, editors) reads the source,
not the objects: it must find every public method of both facades with its parameters and its
docstring.
"""

from __future__ import annotations

import importlib.util
import inspect
import pathlib

import attrs
import jedi
import pytest

from bkjob_async import BkJobClient
from bkjob_async import sync as sync_client
from bkjob_async._protocol import TABLE, crons

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: The rows whose method is written by hand (filters as ``**filters``, ``scope=None``).
BY_HAND = {
    "get_cron_list",
    "get_job_instance_list",
    "get_job_plan_list",
    "get_script_list",
    "get_script_version_detail",
}


def generator():
    spec = importlib.util.spec_from_file_location(
        "gen_facades", ROOT / "scripts" / "gen_facades.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_facades_are_current() -> None:
    for path, text in generator().render().items():
        assert path.read_text(encoding="utf-8") == text, f"run `make facades` ({path.name})"


def test_a_changed_row_changes_its_method_and_nothing_written_by_hand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gen = generator()
    before = gen.CLIENT.read_text(encoding="utf-8")
    changed = attrs.evolve(crons.DELETE_CRON, doc="Delete it, said otherwise.")
    monkeypatch.setattr(crons, "DELETE_CRON", changed)
    after = gen.render_client(before)
    assert '"""Delete it, said otherwise."""' in after
    assert "NotFoundError`` if the scope has none" not in after
    start, end, _ = gen._region(before, "methods")
    assert after[:start] == before[:start]
    assert after.endswith(before[end:])


def test_every_row_is_a_method_with_the_rows_parameters_and_doc() -> None:
    for name, row in TABLE.items():
        method = getattr(BkJobClient, name)
        assert method.__qualname__ == f"BkJobClient.{name}"
        if name in BY_HAND:
            continue
        ours = list(inspect.signature(method).parameters.values())[1:]
        assert ours == list(inspect.signature(row.signature).parameters.values()), name
        assert inspect.getdoc(method) == row.doc, name
    assert set(TABLE) >= BY_HAND


def _shown(parameters: list[inspect.Parameter] | list[jedi.api.classes.ParamName]) -> list[str]:
    """Parameters as an editor shows them: by name, ``**`` for any ``**kwargs``."""
    return ["**" if p.kind is inspect.Parameter.VAR_KEYWORD else p.name for p in parameters]


@pytest.mark.parametrize("facade", [BkJobClient, sync_client.BkJobClient])
def test_jedi_shows_every_public_method_with_its_signature_and_docstring(
    facade: type, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jedi.settings, "cache_directory", str(tmp_path))  # (not ~/.cache)
    code = f"from {facade.__module__} import BkJobClient\nc: BkJobClient\nc."
    project = jedi.Project(ROOT)
    environment = jedi.InterpreterEnvironment()  # (in this process: no subprocess left behind)
    script = jedi.Script(code, path=ROOT / "probe.py", project=project, environment=environment)
    shown = {c.name: c for c in script.complete(3, 2)}
    public = [n for n in dir(facade) if not n.startswith("_")]
    assert len(public) > 85
    for name in public:
        completion = shown[name]
        if isinstance(inspect.getattr_static(facade, name), property):
            assert completion.docstring(raw=True), name
            continue
        method = getattr(facade, name)
        (signature,) = completion.get_signatures()
        expected = list(inspect.signature(method).parameters.values())[1:]
        assert _shown(signature.params) == _shown(expected), name
        assert completion.docstring(raw=True) == inspect.getdoc(method), name
