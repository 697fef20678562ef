"""How a poller's parts are put together: the registry, delivery, reader, rules and driver.

Each part gets what it uses in its constructor, in the order they depend on one another; nothing
is set on a part after it is built. The one late binding is the clock: the reader reads the
driver's, which the poller sets to the event loop's when it is entered.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

from .._transport import sender
from ..config import ApiFlavor
from ._decide import Rules
from ._delivery import Delivery
from ._driver import Driver
from ._jobs import Registry
from ._rate import RateGovernor
from ._reader import Reader
from ._subscription import now_utc

if TYPE_CHECKING:
    from ..client import BkJobClient
    from ._driver import Permits
    from ._journal import Journal
    from ._schedule import PollPolicy

__all__ = ["build"]


def build(
    client: BkJobClient,
    policy: PollPolicy,
    journal: Journal,
    *,
    rng: random.Random | None,
    permits: Permits | None,
) -> Driver:
    """Return the driver of a poller of ``client`` recording in ``journal``, and its parts."""
    protocol = client.protocol
    governor = RateGovernor(policy.rate_limit)
    delivery = Delivery(journal, Registry(policy.remember))

    def now() -> float:  # the driver's clock (the event loop's once the poller is entered)
        return driver.clock()

    reader = Reader(
        protocol,
        sender(client.transport, protocol),
        policy,
        governor,
        now,
        grouping=policy.group_threshold is not None and client.flavor is ApiFlavor.APIGW_V3,
    )
    # The gateway v4 lists execute objects: hosts (read as v3's rows) and containers.
    rows = reader.object_result if client.flavor is ApiFlavor.APIGW_V4 else reader.host_result
    rules = Rules.of(policy, rng or random.Random(), now_utc, rows)
    driver = Driver(
        rules, reader, governor, delivery, time.monotonic, protocol=protocol, permits=permits
    )
    return driver
