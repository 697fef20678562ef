"""The simulator keeps off the client's wire code (its public names: ``public_names.txt``)."""

from __future__ import annotations

import pathlib

import bkjob_async.testing as testing


def test_the_simulator_does_not_use_the_clients_wire_code():
    sources = sorted(pathlib.Path(testing.__file__).parent.glob("*.py"))
    assert len(sources) > 10
    for source in sources:
        if source.name == "pytest_plugin.py":  # the fixtures bind a client to the simulator
            continue
        text = source.read_text(encoding="utf-8")
        if source.name in ("_mock.py", "_serve.py", "_server.py"):  # the seam's two data types
            text = text.replace("from .._protocol import Request, Response\n", "")
        if source.name == "_api_catalog.py":  # routes by the table's rows (names, methods),
            # which test_table_coverage holds against bk-job's own list of APIs
            text = text.replace("from .._protocol import TABLE\n", "")
        for forbidden in ("_converter", "_protocol", "_transport", "_aiohttp", "client"):
            assert f"import {forbidden}" not in text, source
            assert f".{forbidden} import" not in text, source
