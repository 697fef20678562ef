"""``python -m bkjob_async.testing`` and the ``main(argv)`` the future CLI calls."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from bkjob_async.testing._cli import build_parser, main, serve


async def test_serve_describes_where_it_listens_and_what_it_holds():
    out = io.StringIO()
    options = build_parser().parse_args(
        ["--port", "0", "--jobs", "4", "--hosts", "2", "--run-for", "0.05"]
    )
    await serve(options, out)
    text = out.getvalue()
    assert text.startswith("bk-job simulator listening on http://127.0.0.1:")
    assert "jobs 10001, 10002, 10003, 10004;" in text
    assert "/api/c/compapi/v2/jobv3/<api>/" in text


def test_main_runs_and_returns_zero(capsys):
    assert main(["--port", "0", "--jobs", "1", "--run-for", "0.05", "--app", "demo:secret"]) == 0
    assert "listening on" in capsys.readouterr().out


def test_main_refuses_malformed_app_credentials(capsys):
    assert main(["--port", "0", "--app", "nosecret", "--run-for", "0"]) == 2
    assert "--app nosecret has no secret: --app nosecret --secret SECRET" in capsys.readouterr().err
    assert main(["--port", "0", "--app", ":pw", "--run-for", "0"]) == 2
    assert "--app: needs CODE or CODE:SECRET, got ':pw'" in capsys.readouterr().err


def test_the_module_prints_the_same_hint_as_the_command(capsys):
    assert main(["--port", "0", "--jobs", "3", "--run-for", "0.05", "--app", "me:pw"]) == 0
    out = capsys.readouterr().out
    assert "export BKJOB_APP_CODE=me BKJOB_APP_SECRET=pw BKJOB_USERNAME=admin" in out
    assert "the tour of docs/howto/command-line.md: 10001 has succeeded" in out
    assert (Path(__file__).parents[2] / "docs" / "howto" / "command-line.md").exists()
    argv = ["--port", "0", "--jobs", "1", "--run-for", "0.05", "--app", "myapp", "--secret", "s"]
    assert main(argv) == 0  # issue 28: the pair it accepts, however it was given
    assert "export BKJOB_APP_CODE=myapp BKJOB_APP_SECRET=s BKJOB_USERNAME=admin" in (
        capsys.readouterr().out
    )


def test_the_module_runs_as_a_program():
    result = subprocess.run(
        [sys.executable, "-m", "bkjob_async.testing", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert "--jobs" in result.stdout
    assert "--hosts" in result.stdout
