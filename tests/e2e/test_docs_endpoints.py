"""``docs/reference/endpoints.md``'s example runs as printed and prints the output shown."""

from __future__ import annotations

import pathlib
import re
import sys

import anyio

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "reference" / "endpoints.md"
BLOCK = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


async def test_the_example_prints_what_the_page_shows() -> None:
    blocks = [(m["lang"], m["body"]) for m in BLOCK.finditer(PAGE.read_text(encoding="utf-8"))]
    langs = [lang for lang, _ in blocks]
    assert langs.count("python") == 1
    program = next(body for lang, body in blocks if lang == "python")
    shown = blocks[langs.index("python") + 1]
    assert shown[0] == "text"
    with anyio.fail_after(40):
        done = await anyio.run_process([sys.executable, "-c", program], check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == shown[1]
    assert "t0k3n" not in done.stdout.decode()
