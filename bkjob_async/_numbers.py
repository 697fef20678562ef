"""Rule: a number the command line takes is checked here, as argparse parses it; no I/O.

The command lines' numbers: one argparse ``type`` for every numeric argument, so a bad one is a
usage error (one line, exit status 2) before anything is started or sent, never a traceback
from deeper down. ``bkjob-async`` (``cli/``) and ``python -m bkjob_async.testing`` (the
simulator's command line, a floor below ``cli/``) share it, from the floor below both.
"""

from __future__ import annotations

import argparse
from typing import Any

import attrs

from .config import MAX_ID

__all__ = ["ID", "IDS", "PER_SECOND", "SECONDS", "Number", "number"]


@attrs.frozen
class Number:
    """An argparse ``type``: a ``kind`` within ``low..high`` (``above``: more than ``low``).

    ``nan``, ``inf``, words and ``1e3`` for an integer are usage errors like any value out of
    range: one line, exit status 2, before anything is started or sent.
    """

    kind: type[int] | type[float]
    low: float
    high: float
    above: bool = False

    def __call__(self, text: str) -> Any:
        try:
            value = self.kind(text)
        except ValueError:
            noun = "an integer" if self.kind is int else "a number"
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        low_ok = self.low < value if self.above else self.low <= value
        if not (low_ok and value <= self.high):
            bound = f"{'>' if self.above else '>='} {_shown(self.low)} and <= {_shown(self.high)}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value


number = Number


def _shown(value: float) -> str:
    if value == MAX_ID:
        return "2**63-1 (a Java long)"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


#: A job, step, host or plan id: bk-job's ids are Java longs.
ID = number(int, 1, MAX_ID)


@attrs.frozen
class OrStdin(Number):
    """A ``Number``, or ``-``: more of them on stdin (``cli._runtime.read_ids`` reads them)."""

    def __call__(self, text: str) -> Any:
        return text if text == "-" else super().__call__(text)


#: Job ids on a command line that takes many: an id, or ``-`` for the ids on stdin.
IDS = OrStdin(int, 1, MAX_ID)
#: A duration: more than zero, at most 30 days.
SECONDS = number(float, 0.0, 30 * 86_400.0, above=True)
#: A rate of requests per second.
PER_SECOND = number(float, 0.0, 1e6, above=True)
