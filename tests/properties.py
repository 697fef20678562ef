"""How many examples a property test draws: all of them in `make test-slow`, a quarter in
`make test`.

A property test names its full count, ``@settings(max_examples=examples(300))``. The count is
scaled by the loaded Hypothesis profile (registered in ``tests/conftest.py``): ``full`` (and
Hypothesis' own default, as a bare ``pytest`` loads) draws every example, ``quick`` (``make
test``: ``--hypothesis-profile=quick``) a quarter of them, never fewer than ``MINIMUM``. Each
of these properties is also held at fixed points by the example tests beside it (the recorded
samples, the hand-written hostile answers), and a failure Hypothesis found once is replayed
first from its example database on every run, whatever the count; ``make test-slow`` runs every
property with its full count (``-m hypothesis``).
"""

from __future__ import annotations

from hypothesis import settings

#: The share of a property's examples a profile draws, in hundredths (Hypothesis' default
#: ``max_examples`` is 100: a profile that leaves it alone draws all of them).
PROFILES = {"quick": 25, "full": 100}
#: No property draws fewer examples than this.
MINIMUM = 30


def register() -> None:
    """Register the profiles (before the Hypothesis plugin loads the one asked for)."""
    for name, share in PROFILES.items():
        settings.register_profile(name, max_examples=share)


def examples(full: int) -> int:
    """Return how many of ``full`` examples the loaded profile draws."""
    return min(full, max(MINIMUM, full * settings.default.max_examples // 100))
