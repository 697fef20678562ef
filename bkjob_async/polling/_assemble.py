"""How a poller's parts are put together: the reader, the rules, the driver and its census."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

from .._transport import sender
from ..config import ApiFlavor
from ._decide import Rules
from ._driver import Driver
from ._rate import RateGovernor
from ._reader import Reader
from ._subscription import now_utc

if TYPE_CHECKING:
    from ..client import BkJobClient
    from ._delivery import Delivery
    from ._driver import Permits
    from ._schedule import PollPolicy

__all__ = ["build"]


def build(
    client: BkJobClient,
    policy: PollPolicy,
    delivery: Delivery,
    *,
    rng: random.Random | None,
    permits: Permits | None,
) -> Driver:
    """Return the driver of a poller of ``client``: its reader, rules and census."""
    protocol = client.protocol
    governor = RateGovernor(policy.rate_limit)

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
    rules = Rules.of(policy, rng or random.Random(), now_utc, reader.host_result)
    driver = Driver(rules, reader, governor, delivery, time.monotonic, permits=permits)
    delivery.registry = driver.registry
    driver.census_on(protocol)
    return driver
