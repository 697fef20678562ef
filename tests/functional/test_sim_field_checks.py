"""The simulator refuses bad ids, operation codes and statuses as it did before its checks
became a table (``testing/_field_checks.py``): every field of the APIs the table covers,
missing, 0, -1, 1, 3 and 10,000, on a gateway GET and not, each answer pinned."""

from __future__ import annotations

import collections
import hashlib
import json

from bkjob_async.config import ApiFlavor
from bkjob_async.testing import BkJobSimulator
from bkjob_async.testing._api import ApiFailure, Call, Params
from bkjob_async.testing._api_catalog import V2_ENDPOINTS, V3_ENDPOINTS

#: Each API and the fields probed (bk-job's names), as the handlers read them before the table.
PROBED = [
    ("v2", "get_job_detail", ("bk_job_id",)),
    ("v2", "get_job_instance_global_var_value", ("job_instance_id",)),
    ("v2", "get_job_instance_log", ("job_instance_id",)),
    ("v2", "get_job_instance_status", ("job_instance_id",)),
    ("v2", "get_step_instance_status", ("job_instance_id", "step_instance_id")),
    ("v2", "operate_job_instance", ("job_instance_id", "operation_code")),
    ("v2", "operate_step_instance", ("job_instance_id", "step_instance_id", "operation_code")),
    ("v2", "update_cron_status", ("cron_id", "cron_status")),
    ("v3", "batch_get_job_instance_ip_log", ("job_instance_id", "step_instance_id")),
    ("v3", "delete_cron", ("id",)),
    ("v3", "get_cron_detail", ("id",)),
    ("v3", "get_job_instance_global_var_value", ("job_instance_id",)),
    ("v3", "get_job_instance_ip_log", ("job_instance_id", "step_instance_id")),
    ("v3", "get_job_instance_status", ("job_instance_id",)),
    ("v3", "get_job_plan_detail", ("job_plan_id",)),
    ("v3", "get_step_instance_detail", ("job_instance_id", "step_instance_id")),
    ("v3", "get_step_instance_status", ("job_instance_id", "step_instance_id")),
    ("v3", "operate_job_instance", ("job_instance_id", "operation_code")),
    ("v3", "operate_step_instance", ("job_instance_id", "step_instance_id", "operation_code")),
    ("v3", "update_cron_status", ("id", "status")),
]
#: What main answered at f122b52, before the table: each answer's count, and all of them.
COUNTS = {
    "[1241002]": 120,
    "[1244006]": 74,
    "[1240003]": 67,
    '[1241007, "job_instance_id"]': 40,
    "[1245001]": 30,
    '[1241007, "step_instance_id"]': 15,
    "[1243009]": 12,
    "[1244007]": 12,
    '"ok"': 6,
    '[1241010, "id", "id must be a positive integer"]': 6,
    '[1241007, "bk_job_id"]': 5,
    '[1241007, "job_plan_id"]': 5,
    '[1241010, "status", "status must >= 0"]': 4,
}
DIGEST = "6d55cdc15fd5e8c05d182485a6d8c40c92296edb8030afc7f80f76f5984f561e"
FLAVORS = {"v2": (ApiFlavor.ESB_V2, V2_ENDPOINTS), "v3": (ApiFlavor.ESB_JOBV3, V3_ENDPOINTS)}


def answers() -> dict[str, object]:
    world = BkJobSimulator(virtual_clock=True)._world
    found: dict[str, object] = {}
    for generation, api, fields in PROBED:
        flavor, routes = FLAVORS[generation]
        for strict in (False, True):
            for field in fields:
                for value in (None, 0, -1, 1, 3, 10_000):
                    values = {"bk_biz_id": 2, **dict.fromkeys(fields, 1), field: value}
                    if value is None:
                        del values[field]
                    call = Call(flavor, api, Params(values, strict=strict), True, "admin")
                    try:
                        routes[api].handler(world, call)
                        got: object = "ok"
                    except ApiFailure as failure:
                        got = [failure.code, *map(str, failure.args_)]
                    found[f"{generation} {api} {field}={value} strict={strict}"] = got
    return found


def test_every_probe_is_answered_as_before_the_table() -> None:
    found = answers()
    counts = collections.Counter(json.dumps(got) for got in found.values())
    assert dict(counts) == COUNTS
    text = json.dumps(found, sort_keys=True, indent=0)
    assert hashlib.sha256(text.encode()).hexdigest() == DIGEST
