"""``python -m bkjob_async.testing``: serve a simulated bk-job (see ``_cli.main``)."""

from __future__ import annotations

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
