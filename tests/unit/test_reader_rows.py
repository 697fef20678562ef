"""A changed row the converter cannot read whole keeps its status: logged, never raised."""

from __future__ import annotations

import logging

import pytest

from bkjob_async._converter import converter
from bkjob_async.config import DEFAULT_SERVER_TZ
from bkjob_async.models import HostResult
from bkjob_async.polling._tracker import _readable


def test_a_readable_row_is_structured_and_an_unreadable_one_is_none_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = converter("v3", DEFAULT_SERVER_TZ).get_structure_hook(HostResult)
    row = {"bk_host_id": 7, "status": 9, "exit_code": 0}
    assert _readable(hook, row, HostResult, (7, None, None)).host.bk_host_id == 7
    with caplog.at_level(logging.WARNING, "bkjob_async.polling"):
        assert _readable(hook, {**row, "exit_code": "x"}, HostResult, (7, None, None)) is None
    assert "HostResult (7, None, None): row not fully readable" in caplog.text
