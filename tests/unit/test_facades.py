"""The facades are what ``scripts/gen_facades.py`` writes from the endpoint table, and editors see them.

``bkjob_async/client.py`` has one ``async def`` per row of the table and ``bkjob_async/sync.py``
the blocking twin of each ``async def`` of the async client, between marker lines the generator
rewrites (``make facades``): a row, a spelling, a reader or a hand-written ``async def`` that
changes fails here until it is run again. Jedi (IPython, Jupyter, editors) reads the source,
not the objects: it must find every public method of both facades with its parameters and its
docstring.
"""

from __future__ import annotations

import inspect
import pathlib
from collections.abc import Iterable

import attrs
import jedi
import pytest

from bkjob_async import BkJobClient
from bkjob_async import sync as sync_client
from bkjob_async._protocol import TABLE, crons

from .test_api_keys import script

ROOT = pathlib.Path(__file__).resolve().parents[2]


def generator():
    return script("gen_facades")


# Untraced: the generator and ruff under coverage's tracer (2.9 s of CPU traced, 1.1 s
# untraced); it runs none of the package's lines that other tests do not (by test context).
@pytest.mark.untraced
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


def _plain(parameters: Iterable[inspect.Parameter]) -> list[tuple[str, object, object]]:
    """Parameters by name, kind and default (their annotations aside)."""
    return [(p.name, p.kind, p.default) for p in parameters]


def test_every_row_is_a_method_with_the_rows_parameters_and_doc() -> None:
    for name, row in TABLE.items():
        method = getattr(BkJobClient, name)
        assert method.__qualname__ == f"BkJobClient.{name}"
        ours = list(inspect.signature(method).parameters.values())[1:]
        theirs = list(inspect.signature(row.signature).parameters.values())
        assert _plain(ours) == _plain(theirs), name
        public = {p.name: p.annotation for p in ours if p.name == "scope" and row.public}
        assert [p.annotation for p in ours] == [
            f"{p.annotation} | None" if p.name in public else p.annotation for p in theirs
        ], name
        assert inspect.getdoc(method) == row.doc, name


def test_a_pager_takes_its_rows_parameters_with_page_size_for_start_and_length() -> None:
    pagers = {row.pager.method: row for row in TABLE.values() if row.pager is not None}
    assert len(pagers) == 7
    for method, row in pagers.items():
        ours = list(inspect.signature(getattr(BkJobClient, method)).parameters.values())[1:]
        theirs = [
            p
            for p in inspect.signature(getattr(BkJobClient, row.name)).parameters.values()
            if p.name not in ("self", "start", "length")
        ]
        assert ours[:-1] == theirs, method
        assert (ours[-1].name, ours[-1].kind) == ("page_size", inspect.Parameter.KEYWORD_ONLY)
        assert inspect.getdoc(getattr(BkJobClient, method)) == row.pager.doc


def _in_full(shown: list[jedi.api.classes.ParamName], expected: list[inspect.Parameter]) -> bool:
    """Whether Jedi shows every parameter by name: a ``**kwargs`` only if it finds where they
    go and shows those keywords instead (a ``**filters: Unpack[...]`` it shows as ``**``)."""
    names = [p.name for p in shown]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in shown):
        return False
    plain = [p.name for p in expected if p.kind is not inspect.Parameter.VAR_KEYWORD]
    if len(plain) == len(expected):
        return names == plain
    return names[: len(plain)] == plain and len(names) > len(plain)


# Untraced: Jedi's CPU (the file took 8.0 s of CPU traced, 4.4 s untraced); it runs none of
# the package's lines that other tests do not (coverage by test context).
@pytest.mark.untraced
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
    misses = []  # a method whose parameters or docstring Jedi does not show in full
    for name in public:
        completion = shown.get(name)
        if completion is None:
            misses.append(name)
        elif isinstance(inspect.getattr_static(facade, name), property):
            if not completion.docstring(raw=True):
                misses.append(name)
        else:
            method = getattr(facade, name)
            signatures = completion.get_signatures()
            raw = inspect.getattr_static(facade, name)  # (self or cls first, but a staticmethod)
            expected = list(inspect.signature(getattr(raw, "__func__", raw)).parameters.values())
            expected = expected if isinstance(raw, staticmethod) else expected[1:]
            if (
                len(signatures) != 1
                or not _in_full(signatures[0].params, expected)
                or completion.docstring(raw=True) != inspect.getdoc(method)
            ):
                misses.append(name)
    assert misses == [], f"{len(misses)} of {len(public)} not shown in full"
