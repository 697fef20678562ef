"""What importing a part of the package loads: the layers hold at run time, not only in review.

Each check runs in a fresh interpreter (a subprocess), so that what the test process already
imported cannot hide an import.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_simulator_and_its_command_line_never_load_the_cli_package() -> None:
    done = _run(
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
