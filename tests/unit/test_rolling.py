"""Rolling execution: bk-job's batch arithmetic, its caps, and the three shapes on the wire."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bkjob_async import (
    Account,
    Credentials,
    FileSource,
    FileSourceRolling,
    RollingConfig,
    Scope,
    Targets,
)
from bkjob_async._protocol import Protocol
from bkjob_async.models.requests import rolling_batches
from tests.conftest import APP_SECRET

BIZ = Scope.biz(2)


def build(api: str, flavor: str = "apigw-v3", **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"targets": Targets(host_ids=[1]), "account": Account(alias="root")}
    if api == "fast_execute_script":
        options["script_content"] = "ls"
    else:
        options["file_target_path"] = "/tmp"
        options["file_sources"] = [FileSource(["/a", "/b"], server=Targets(host_ids=[7, 8]))]
    options.update(kwargs)
    protocol = Protocol(
        "https://bk.example.com/",
        flavor=flavor,
        credentials=Credentials("app", APP_SECRET, username="admin"),
    )
    request = protocol.build(api, BIZ, **options)
    assert request.body is not None
    sent: dict[str, Any] = json.loads(request.body)
    return sent


@pytest.mark.parametrize(
    ("expression", "hosts", "sizes"),
    [
        ("10%", 25, [3, 3, 3, 3, 3, 3, 3, 3, 1]),  # ceil(25 * 10 / 100) = 3
        ("100%", 7, [7]),
        ("5", 12, [5, 5, 2]),
        ("1 +2 *2 30%", 100, [1, 3, 6, 30, 30, 30]),  # the last part repeats
        ("*3", 20, [3, 9, 8]),  # a first ``*n`` takes n
        ("+1", 10, [1, 2, 3, 4]),
        ("2 10 ", 11, [2, 9]),  # Java's split drops a trailing empty part
        ("3", 0, []),
    ],
)
def test_batches_are_cut_as_bk_job_cuts_them(expression: str, hosts: int, sizes: list[int]) -> None:
    assert rolling_batches(expression, hosts) == sizes


@pytest.mark.parametrize(
    "expression", ["", " 5", "1  2", "0", "0%", "101%", "+0", "*0", "5x", "-1"]
)
def test_an_expression_bk_job_cannot_parse_is_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="not a rolling expression"):
        rolling_batches(expression, 10)


def test_serial_rolling_passes_501_batches_and_refuses_502_as_bk_job_does() -> None:
    # RollingBatchExecuteObjectsResolver checks ``size() > 500`` before each new batch.
    assert len(rolling_batches("1", 501)) == 501
    sent = build(
        "fast_execute_script",
        targets=Targets(host_ids=range(1, 502)),
        rolling_config=RollingConfig("1"),
    )
    assert sent["rolling_config"] == {"expression": "1", "mode": 1}
    with pytest.raises(ValueError, match="1244027"):
        build(
            "fast_execute_script",
            targets=Targets(host_ids=range(1, 503)),
            rolling_config=RollingConfig("1"),
        )


def test_staggered_rolling_is_capped_at_200_batches_before_sending() -> None:
    staggered = RollingConfig.staggered("1", fixed_ms=1000)
    build("fast_execute_script", targets=Targets(host_ids=range(1, 201)), rolling_config=staggered)
    with pytest.raises(ValueError, match="at most 200"):
        build(
            "fast_execute_script", targets=Targets(host_ids=range(1, 202)), rolling_config=staggered
        )
    # by ip too; an unknown host count (a topology node) is left to bk-job
    ips = [f"10.0.{i // 200}.{i % 200 + 1}" for i in range(201)]
    with pytest.raises(ValueError, match="at most 200"):
        build("fast_execute_script", targets=Targets(ips=ips), rolling_config=staggered)
    build(
        "fast_execute_script", targets=Targets(topo_nodes=[("module", 3)]), rolling_config=staggered
    )


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3", "apigw-v4"])
def test_a_staggered_launch_is_sent_as_bk_job_reads_it(flavor: str) -> None:
    config = RollingConfig.staggered("10%", fixed_ms=60_000, random_min_ms=5, random_max_ms=9)
    sent = build("fast_execute_script", flavor, rolling_config=config)
    assert sent["rolling_config"] == {
        "expression": "10%",
        "execution_mode": 2,
        "batch_start_wait_fixed_ms": 60_000,
        "batch_start_wait_random_min_ms": 5,
        "batch_start_wait_random_max_ms": 9,
    }


@pytest.mark.parametrize("flavor", ["apigw-v3", "esb-jobv3"])
def test_a_file_source_rolling_transfer_is_sent_as_bk_job_reads_it(flavor: str) -> None:
    config = RollingConfig.by_source_file(max_hosts_in_batch=2, max_files_per_host=1, mode=3)
    sent = build("fast_transfer_file", flavor, rolling_config=config)
    assert sent["rolling_config"] == {
        "type": 2,
        "mode": 3,
        "file_source": {
            "max_execute_object_num_in_batch": 2,
            "max_file_num_of_single_execute_object": 1,
        },
    }
    unlimited = build("fast_transfer_file", flavor, rolling_config=RollingConfig.by_source_file())
    assert unlimited["rolling_config"] == {"type": 2, "mode": 1, "file_source": {}}


def test_the_old_spelling_still_sends_serial_rolling() -> None:
    sent = build("fast_transfer_file", rolling_config=RollingConfig("10%", 2))
    assert sent["rolling_config"] == {"expression": "10%", "mode": 2}


def test_file_source_rolling_is_for_server_files_of_a_transfer() -> None:
    config = RollingConfig.by_source_file(max_hosts_in_batch=1)
    with pytest.raises(ValueError, match="for file transfers"):
        build("fast_execute_script", rolling_config=config)
    third_party = FileSource(["/x"], file_type=3, file_source_id=4)
    with pytest.raises(ValueError, match="1244035"):
        build("fast_transfer_file", file_sources=[third_party], rolling_config=config)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"expression": "5", "mode": 4}, "mode is 1, 2 or 3"),
        ({"expression": "5", "mode": True}, "mode is 1, 2 or 3"),
        ({"expression": "5", "execution_mode": 3}, "execution_mode is 1"),
        ({"expression": "5", "batch_start_wait_fixed_ms": 5}, "for staggered"),
        ({"expression": "5", "execution_mode": 2}, "needs batch_start_wait_fixed_ms"),
        (
            {
                "expression": "5",
                "execution_mode": 2,
                "batch_start_wait_fixed_ms": 0,
                "batch_start_wait_random_min_ms": 10,
                "batch_start_wait_random_max_ms": 9,
            },
            "max_ms must be >=",
        ),
        ({"expression": "5", "batch_start_wait_fixed_ms": 3_600_001}, r"0\.\.3600000"),
        ({"expression": "5", "batch_start_wait_fixed_ms": -1}, r"0\.\.3600000"),
        ({"expression": "5", "file_source": FileSourceRolling()}, "one or the other"),
    ],
)
def test_a_config_bk_job_refuses_is_refused_when_built(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RollingConfig(**kwargs)


def test_the_other_shapes_bk_job_refuses() -> None:
    with pytest.raises(ValueError, match="cannot be staggered"):
        RollingConfig(
            execution_mode=2,
            batch_start_wait_fixed_ms=1,
            batch_start_wait_random_min_ms=1,
            batch_start_wait_random_max_ms=1,
            file_source=FileSourceRolling(),
        )
    with pytest.raises(ValueError, match="has no mode"):
        RollingConfig(
            "5",
            3,
            execution_mode=2,
            batch_start_wait_fixed_ms=1,
            batch_start_wait_random_min_ms=1,
            batch_start_wait_random_max_ms=1,
        )
    with pytest.raises(ValueError, match="positive int"):
        FileSourceRolling(max_hosts_in_batch=0)
    with pytest.raises(TypeError, match="non-empty str"):
        build("fast_execute_script", rolling_config=RollingConfig())


def test_a_config_says_its_type_and_cap() -> None:
    assert (RollingConfig("5").rolling_type, RollingConfig("5").max_batches) == (1, 500)
    staggered = RollingConfig.staggered("5", fixed_ms=0)
    assert (staggered.rolling_type, staggered.max_batches) == (1, 200)
    assert RollingConfig.by_source_file().rolling_type == 2
