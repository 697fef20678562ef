"""What importing a part of the package loads: the layers hold at run time, not only in review.

Each check runs in a fresh interpreter (a subprocess), so that what the test process already
imported cannot hide an import.
"""

from __future__ import annotations

import pytest

from tests.child import run_python


def test_the_simulator_and_its_command_line_load_nothing_of_the_cli() -> None:
    """The simulator's command line takes its numbers' argparse types from ``_numbers.py``, a
    floor below both command lines (issue 92): it loads nothing of ``cli/``, the floor above
    ``testing/`` that imports it."""
    done = run_python(
        """
        import contextlib, importlib, io, pkgutil, sys
        import bkjob_async.testing as testing
        for info in pkgutil.iter_modules(testing.__path__):
            if info.name != "__main__":
                importlib.import_module(f"bkjob_async.testing.{info.name}")
        from bkjob_async.testing._cli import build_parser, main
        build_parser().format_help()
        for argv in (["--help"], ["--jobs", "-1"], ["--secret", "s"]):
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                code = main(argv)
            print(argv[0], code)
        cli = "bkjob_async.cli"
        print(sorted(m for m in sys.modules if m == cli or m.startswith(cli + ".")))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["--help 0", "--jobs 2", "--secret 2", "[]"]


def test_import_bkjob_async_loads_what_a_name_needs_when_it_is_used() -> None:
    """``import bkjob_async`` loads no aiohttp; each public name imports its module on first
    use; ``bkjob-async --version`` builds no command."""
    done = run_python(
        """
        import sys
        import bkjob_async
        print("aiohttp" in sys.modules, "bkjob_async.client" in sys.modules)
        from bkjob_async import Scope
        print("bkjob_async.polling" in sys.modules, Scope.__module__)
        from bkjob_async import Poller
        print("bkjob_async.polling" in sys.modules, Poller.__module__)
        from bkjob_async.cli import main
        print(main(["--version"]), "bkjob_async.cli._commands" in sys.modules)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "False False",
        "False bkjob_async.config",
        "True bkjob_async.polling.poller",
        "bkjob-async 0.1.0",
        "0 False",
    ]


def test_the_lazy_names_are_the_type_checkers_names_and_all_of_all() -> None:
    """The one list: every name of ``__all__`` is in the ``TYPE_CHECKING`` block (what mypy and
    IDEs read) and resolves to the very object of its module; nothing else is there."""
    import importlib

    import bkjob_async

    lazy = bkjob_async._lazy_names()
    assert set(lazy) == set(bkjob_async.__all__) - {"__version__"}
    for name, module in lazy.items():
        value = getattr(bkjob_async, name)
        assert value is getattr(importlib.import_module(module, "bkjob_async"), name), name
    assert set(bkjob_async.__all__) <= set(dir(bkjob_async))
    with pytest.raises(AttributeError, match="NoSuchName"):
        bkjob_async.NoSuchName  # type: ignore[attr-defined]  # noqa: B018
