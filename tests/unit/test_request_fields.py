"""Every key the client's spellings send is a field bk-job's request reads, on each flavor.

``bkjob_async/testing/_fields.py`` lists, from bk-job's resource interfaces (``scripts/java_fields.py
--requests``), the keys each API reads on each generation; bk-job drops any other key without a
word, so a key spelled wrong (``name`` where v2 reads ``script_name``) would be a filter that
silently does nothing. ``_protocol/_keys.py`` lists every key each spelling may send.
"""

from __future__ import annotations

import pytest

from bkjob_async._protocol import TABLE
from bkjob_async._protocol._keys import SPELLED
from bkjob_async.config import ApiFlavor
from bkjob_async.testing._fields import FIELDS

GENERATION = {
    ApiFlavor.ESB_V2: "v2",
    ApiFlavor.APIGW_V3: "v3",
    ApiFlavor.ESB_JOBV3: "v3",
    ApiFlavor.APIGW_V4: "v4",
}
BINDINGS = [
    pytest.param(name, flavor, id=f"{name}-{flavor.value}")
    for name, row in TABLE.items()
    for flavor in row.bindings
]


@pytest.mark.parametrize(("name", "flavor"), BINDINGS)
def test_every_key_spelled_is_a_field_bk_job_reads(name: str, flavor: ApiFlavor) -> None:
    binding = TABLE[name].bindings[flavor]
    read = FIELDS[GENERATION[flavor]].get(binding.name)
    assert read is not None, f"bk-job has no {binding.name} on {GENERATION[flavor]}"
    unread = SPELLED[name][flavor.value] - set(read)
    assert not unread, f"{binding.name} ({flavor.value}) sends keys bk-job ignores: {unread}"


def test_the_fields_name_the_scope_keys_by_their_wire_names() -> None:
    assert FIELDS["v3"]["get_cron_list"]["bk_scope_type"] == "String"
    assert FIELDS["v2"]["get_cron_list"]["cron_name"] == "String"
    assert "name" not in FIELDS["v2"]["get_cron_list"]
    assert FIELDS["v4"]["get_job_instance_status"]["return_execute_object_result"] == "boolean"
