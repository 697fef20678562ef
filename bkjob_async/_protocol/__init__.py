"""The sans-I/O bk-job protocol: the endpoint table, requests, the envelope; no I/O here.

- ``_api``: a row of the table (``Api``: names, methods, spellings, the answer's reader);
- ``jobs``, ``launches``, ``sql``, ``logs``, ``catalog``, ``scripts``, ``rules``, ``templates``,
  ``accounts``, ``files``, ``settings``, ``crons``: the families, each a few rows;
- ``_table``: every row by name (``TABLE``);
- ``_request``: ``Request``, ``Response``, URLs; ``_envelope``: answers into data or errors;
- ``_core``: ``Protocol``, one server, flavor and identity over all of it.
"""

from __future__ import annotations

from .._params import MAX_LOG_HOSTS, HostRef
from ._api import Api, Batches, Binding, Params
from ._core import CREDENTIAL_PARAMS, Protocol
from ._envelope import parse_retry_after
from ._request import KeptQuery, Request, Response
from ._table import FAMILIES, TABLE

__all__ = [
    "CREDENTIAL_PARAMS",
    "FAMILIES",
    "MAX_LOG_HOSTS",
    "TABLE",
    "Api",
    "Batches",
    "Binding",
    "HostRef",
    "KeptQuery",
    "Params",
    "Protocol",
    "Request",
    "Response",
    "parse_retry_after",
]
