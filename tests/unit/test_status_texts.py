"""Every status with bk-job's own Chinese and English text (job-execute's i18n properties)."""

from __future__ import annotations

import pytest

from bkjob_async.models import HostStatus, JobStatus


def test_every_known_status_has_both_texts() -> None:
    for status in [*JobStatus, *HostStatus]:
        assert status.text_en
        assert status.text_zh
        assert not status.text_en.startswith("Unknown (")


@pytest.mark.parametrize(
    ("status", "zh", "en"),
    [
        (JobStatus.SUCCESS, "执行成功", "Success"),
        (JobStatus.WAITING_USER, "等待确认", "Waiting"),
        (JobStatus.STOP_SUCCESS, "强制终止成功", "Terminate Success"),
        (JobStatus.ROLLING_WAITING, "滚动等待", "Rolling Waiting"),
        (HostStatus.SCRIPT_NOT_ZERO_EXIT_CODE, "脚本返回码非零", "Non-zero Exit Code"),
        (HostStatus.HOST_NOT_EXIST, "无效执行对象", "Invalid Execute Object"),
        (HostStatus.LAST_SUCCESS, "上次已成功", "Successful Last Time"),
        (HostStatus.AGENT_NOT_INSTALLED, "Agent 未安装", "Agent not installed"),
    ],
)
def test_texts_are_bk_jobs(status: JobStatus | HostStatus, zh: str, en: str) -> None:
    assert (status.text_zh, status.text_en) == (zh, en)


def test_an_unknown_code_says_so_with_its_code() -> None:
    assert JobStatus(12).text_en == "Unknown (12)"
    assert HostStatus(77).text_zh == "未知 (77)"
