"""``python -m bkjob_async.testing``: only ``_cli.main``, nothing of its own."""

from __future__ import annotations

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
