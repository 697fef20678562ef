"""The one private cattrs converter: wire ``data`` in, frozen models out; no I/O, no other error.

Rule: structuring raises only ``ResponseFormatError``; the models know nothing of the wire.
The modules mirror ``bkjob_async._protocol``'s:

- ``_readers``: the wire's scalars and shapes, read one way for the converter and the poller's
  fast path (``bkjob_async._observe``); ``Generation``;
- ``_core``: the per-generation converters, ``structure`` and the models' JSON form;
- ``_v4``: the gateway v4's execute object rows;
- ``scripts``, ``templates``, ``accounts``, ``files``, ``settings``: the families' hooks, each
  added to a generation's converter by ``_core``.
"""

from __future__ import annotations

from ._core import (
    INT32,
    LONG,
    converter,
    from_json,
    host_key,
    json_converter,
    parse_target_ips,
    structure,
    to_json,
)
from ._readers import Generation, read_bool, read_code, read_epoch_ms, read_int, read_rows

__all__ = [
    "INT32",
    "LONG",
    "Generation",
    "converter",
    "from_json",
    "host_key",
    "json_converter",
    "parse_target_ips",
    "read_bool",
    "read_code",
    "read_epoch_ms",
    "read_int",
    "read_rows",
    "structure",
    "to_json",
]
