"""``python -m bkjob_async.testing`` and the ``main(argv)`` the future CLI calls."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

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


def test_main_refuses_malformed_app_credentials():
    with pytest.raises(SystemExit, match="CODE:SECRET"):
        main(["--port", "0", "--app", "nosecret", "--run-for", "0"])


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
