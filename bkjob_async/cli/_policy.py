"""Rule: the one poll policy of the command line, taken from below by every watch command.

The poll policy of the command line's options, shared by the commands that watch.

Rule: a module of its own so that the watch commands (``_commands``, ``_cluster``,
``_dashboard``) take it from below, not from each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..polling import PollPolicy
from ._runtime import CliError

if TYPE_CHECKING:
    import argparse

__all__ = ["policy_from"]


def policy_from(args: argparse.Namespace, connection_limit: int) -> PollPolicy:
    """Return the poll policy of ``--interval``, ``--max-interval`` and ``--deadline``."""
    given = {} if args.max_interval is None else {"max_interval": args.max_interval}
    try:
        return PollPolicy(
            interval=args.interval,
            deadline=args.deadline,
            max_in_flight=min(args.max_in_flight, connection_limit),
            **given,
        )
    except (TypeError, ValueError) as exc:
        raise CliError(f"invalid polling option: {exc}") from None
