"""``bkjob_async.tuning.freeze_what_is_alive``: what is alive leaves the collector's walks."""

from __future__ import annotations

import gc
import sys
import weakref

from bkjob_async.tuning import freeze_what_is_alive


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_what_is_alive_is_frozen_and_garbage_is_not() -> None:
    kept = [_Node()]
    cycle = _Node()
    cycle.other = _Node()
    cycle.other.other = cycle  # unreachable garbage once dropped: collected first, not frozen
    gone = weakref.ref(cycle)
    del cycle
    # No other thread runs between the freeze and the count (a thread left by an earlier test
    # of the same worker, such as a served site's, that frees a frozen object lowers it).
    switch = sys.getswitchinterval()
    sys.setswitchinterval(60.0)
    try:
        try:
            frozen, count = freeze_what_is_alive(), gc.get_freeze_count()
        finally:
            sys.setswitchinterval(switch)
        assert frozen == count > 0
        walked = {id(o) for o in gc.get_objects()}
        assert id(kept) not in walked  # alive: frozen, out of every later pass
        assert gone() is None
        later = [_Node()]
        assert id(later) in {id(o) for o in gc.get_objects()}  # made after: walked as before
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
    assert id(kept) in {id(o) for o in gc.get_objects()}
