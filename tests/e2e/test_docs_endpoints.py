"""``docs/reference/endpoints.md``'s example runs as printed and prints the output shown."""

from __future__ import annotations

import pathlib
import re
import sys

import anyio

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "reference" / "endpoints.md"
BLOCK = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


EXAMPLES = [
    (m["body"], n["lang"], n["body"])
    for m, n in zip(
        list(BLOCK.finditer(PAGE.read_text(encoding="utf-8"))),
        list(BLOCK.finditer(PAGE.read_text(encoding="utf-8")))[1:],
        strict=False,
    )
    if m["lang"] == "python"
]


def test_the_page_has_its_examples() -> None:
    assert len(EXAMPLES) >= 2


async def test_the_example_prints_what_the_page_shows() -> None:
    for program, lang, shown in EXAMPLES:
        assert lang == "text", "each python example is followed by the output it prints"
        with anyio.fail_after(40):
            done = await anyio.run_process([sys.executable, "-c", program], check=False)
        assert done.returncode == 0, done.stderr.decode()
        assert done.stdout.decode() == shown
        for secret in ("t0k3n", "s3cret-pw", "demo-secret"):
            assert secret not in done.stdout.decode()
