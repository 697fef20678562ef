"""The suite, a package (``tests.<directory>.<module>``).

``PREIMPORTED``: the modules of ``bkjob_async`` already imported when pytest first imports the
suite (this package, before ``tests/conftest.py``). None should be: pytest-cov starts its tracer
just before the conftest loads, and a module imported earlier has its body (imports, ``class``
and ``def`` lines) counted as never run. pytest loads the package's own ``pytest11`` plugin
before any tracer, so the suite turns that entry point off (``-p no:bkjob_async`` in
pyproject's ``addopts``) and loads the plugin from its conftest instead
(``tests/unit/test_suite_tracing.py`` holds it).
"""

import sys

PREIMPORTED = tuple(sorted(name for name in sys.modules if name.partition(".")[0] == "bkjob_async"))
