"""The simulator's table of field checks: bk-job's field names only, each row served, each
refusal the code its row says."""

from __future__ import annotations

from typing import Any

import pytest

from bkjob_async.config import ApiFlavor
from bkjob_async.testing import _codes as codes
from bkjob_async.testing._api import ApiFailure, Call, Params
from bkjob_async.testing._api_catalog import V2_ENDPOINTS, V3_ENDPOINTS, V4_ENDPOINTS
from bkjob_async.testing._field_checks import CHECKS, Check, unknown_fields

FLAVORS = {"v2": ApiFlavor.ESB_V2, "v3": ApiFlavor.ESB_JOBV3, "v4": ApiFlavor.APIGW_V4}


def call(generation: str, api: str, values: dict[str, Any], *, strict: bool = False) -> Call:
    return Call(FLAVORS[generation], api, Params(values, strict=strict), True, "admin")


def refusal(generation: str, api: str, values: dict[str, Any], **kw: bool) -> ApiFailure:
    with pytest.raises(ApiFailure) as caught:
        call(generation, api, values, **kw).checked()
    return caught.value


def test_every_field_is_one_bk_jobs_request_of_that_generation_has() -> None:
    assert unknown_fields(CHECKS) == {}
    # the client's v2 spelling on v3 (and v3's on v2) is not a field there: the table says so
    spelled = {
        ("v3", "update_cron_status"): (Check("cron_id", codes.ILLEGAL_PARAM),),
        ("v2", "update_cron_status"): (Check("id", codes.ILLEGAL_PARAM),),
        ("v3", "no_such_api"): (Check("id", codes.ILLEGAL_PARAM),),
    }
    assert unknown_fields(spelled) == {
        "v3 update_cron_status": ["cron_id"],
        "v2 update_cron_status": ["id"],
        "v3 no_such_api": ["id"],
    }


def test_every_row_is_an_api_the_simulator_serves() -> None:
    served = {"v2": V2_ENDPOINTS, "v3": V3_ENDPOINTS, "v4": V4_ENDPOINTS}
    assert [key for key in CHECKS if key[1] not in served[key[0]]] == []


@pytest.mark.parametrize(("generation", "api"), sorted(CHECKS))
def test_each_field_refuses_what_its_row_refuses(generation: str, api: str) -> None:
    row = CHECKS[generation, api]
    good = {check.field: next(v for v in range(1, 99) if check.takes(v)) for check in row}
    assert call(generation, api, good).checked() == tuple(good.values())
    for check in row:
        for value in (None, 0, -1, 10_000):
            sent = {**good, check.field: value}
            if value is not None and check.takes(value):  # (a status of 0 is a status)
                assert value in call(generation, api, sent).checked()
                continue
            failure = refusal(generation, api, sent)
            assert (failure.code, failure.args_) == (check.code, check.args)


def test_a_bound_field_missing_on_a_gateway_get_is_springs_1240003() -> None:
    failure = refusal("v3", "get_job_instance_status", {}, strict=True)
    assert (failure.code, failure.args_) == (codes.BAD_REQUEST, ())
    failure = refusal("v3", "get_job_instance_status", {})
    assert (failure.code, failure.args_) == (codes.MISSING_OR_ILLEGAL_NAMED, ("job_instance_id",))
    # an unbound field is the resource's refusal either way
    failure = refusal("v3", "operate_job_instance", {"operation_code": 1}, strict=True)
    assert failure.code == codes.ILLEGAL_PARAM


def test_codes_and_statuses_outside_a_rows_values_are_refused_in_bk_jobs_order() -> None:
    refused = refusal("v3", "operate_job_instance", {"job_instance_id": 5, "operation_code": 3})
    assert refused.code == codes.ILLEGAL_PARAM
    refused = refusal("v2", "update_cron_status", {"cron_id": 5, "cron_status": 3})
    assert refused.code == codes.ILLEGAL_PARAM
    # v3 checks the id before the status
    refused = refusal("v3", "update_cron_status", {"id": 0, "status": -1})
    assert refused.args_ == ("id", "id must be a positive integer")
    refused = refusal("v3", "update_cron_status", {"id": 3, "status": -1})
    assert refused.args_ == ("status", "status must >= 0")
    assert call("v3", "update_cron_status", {"id": 3, "status": 0}).checked() == (3, 0)
