"""The simulator reads a request as bk-job's request class does (``testing/_fields.py``).

A key bk-job has no field for never reaches a handler (Jackson drops it, so a key the client
misspells is missed here as it is there), and a number that does not convert is a bad request
before any check of the resource.
"""

from __future__ import annotations

from typing import Any

import pytest

from bkjob_async.config import ApiFlavor
from bkjob_async.testing import BkJobSimulator
from bkjob_async.testing import _codes as codes
from bkjob_async.testing._api import ApiFailure, Call, Params
from bkjob_async.testing._api_catalog import V2_ENDPOINTS, V3_ENDPOINTS, V4_ENDPOINTS, _reading
from bkjob_async.testing._fields import FIELDS


def call(flavor: ApiFlavor, api: str, **values: Any) -> Call:
    return Call(flavor, api, Params(values, strict=False), True, "admin")


def test_a_handler_sees_only_the_keys_bk_jobs_request_reads() -> None:
    seen = []
    handle = _reading(
        lambda world, c: seen.append(dict(c.params.values)), FIELDS["v2"]["get_cron_list"]
    )
    handle(None, call(ApiFlavor.ESB_V2, "get_cron_list", bk_biz_id=2, name="a", cron_name="b"))
    assert seen == [{"bk_biz_id": 2, "cron_name": "b"}]  # v2 reads cron_name, not name


def test_a_number_that_does_not_convert_is_a_bad_request_before_the_handler() -> None:
    def handler(world: Any, c: Call) -> object:
        raise AssertionError("the handler ran")

    handle = _reading(handler, FIELDS["v3"]["get_cron_detail"])
    with pytest.raises(ApiFailure) as refused:
        handle(None, call(ApiFlavor.ESB_JOBV3, "get_cron_detail", bk_biz_id=2, id="seven"))
    assert refused.value.code == codes.BAD_REQUEST


@pytest.mark.parametrize(
    ("flavor", "table", "generation"),
    [
        (ApiFlavor.ESB_V2, V2_ENDPOINTS, "v2"),
        (ApiFlavor.ESB_JOBV3, V3_ENDPOINTS, "v3"),
        (ApiFlavor.APIGW_V4, V4_ENDPOINTS, "v4"),
    ],
)
def test_every_route_reads_through_its_fields(
    flavor: ApiFlavor, table: dict[str, Any], generation: str
) -> None:
    world = BkJobSimulator(virtual_clock=True)._world
    checked = 0
    for name, endpoint in table.items():
        numbers = [k for k, t in FIELDS[generation][name].items() if t in ("Long", "Integer")]
        if numbers:
            with pytest.raises(ApiFailure) as refused:
                endpoint.handler(world, call(flavor, name, **{numbers[-1]: "seven"}))
            assert refused.value.code == codes.BAD_REQUEST, name
            checked += 1
    assert checked >= len(table) - 3
