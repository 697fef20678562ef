"""``python -m bkjob_async.cli``: only the ``bkjob-async`` console script, nothing of its own."""

from __future__ import annotations

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
