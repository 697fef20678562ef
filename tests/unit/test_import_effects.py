"""Importing any module of the package has no effect on the process: no hook, no thread, no read
of the environment, no handler; the sync facade's fork and exit hooks come with its first client.

Each check runs in a fresh interpreter (a subprocess), so that what the test process already
imported cannot hide an effect.
"""

from __future__ import annotations

import json

from tests.child import run_python

# Records every effect made from a frame in the package while every module of it is imported,
# then makes a sync client (two), and prints what it saw as JSON.
_PROBE = """
import atexit, gc, importlib, json, logging, os, pkgutil, signal, sys, threading, warnings

seen = {"env": [], "at_fork": [], "atexit": [], "filters": [], "skipped": []}
PACKAGE = os.sep + "bkjob_async" + os.sep


def from_package():
    frame = sys._getframe(2)  # (the caller of the hook or of the mapping's method)
    while frame is not None:
        name = frame.f_code.co_filename
        if PACKAGE in name:
            return name.split(PACKAGE, 1)[1]
        if not name.endswith(("os.py", "_collections_abc.py", "os>", "_collections_abc>")):
            return None
        frame = frame.f_back
    return None


class Environ(type(os.environ)):
    def __getitem__(self, key):
        where = from_package()
        if where is not None:
            seen["env"].append(f"{where}: {key}")
        return super().__getitem__(key)

    def __contains__(self, key):
        where = from_package()
        if where is not None:
            seen["env"].append(f"{where}: {key}")
        return super().__contains__(key)


env = os.environ
os.environ = Environ(env._data, env.encodekey, env.decodekey, env.encodevalue, env.decodevalue)
real_at_fork, real_atexit = os.register_at_fork, atexit.register


def at_fork(**kwargs):
    where = from_package()
    if where is not None:  # (libraries the package imports may register their own)
        seen["at_fork"].append(where)
    real_at_fork(**kwargs)


def at_exit(fn, *args, **kwargs):
    where = from_package()
    if where is not None:
        seen["atexit"].append(where)
    return real_atexit(fn, *args, **kwargs)


def recorded(real):
    def call(*args, **kwargs):
        where = from_package()
        if where is not None:  # (aiohttp.web adds a filter of its own)
            seen["filters"].append(where)
        return real(*args, **kwargs)

    return call


os.register_at_fork, atexit.register = at_fork, at_exit
warnings.filterwarnings = recorded(warnings.filterwarnings)
warnings.simplefilter = recorded(warnings.simplefilter)


def process_state():
    return {
        "threads": threading.active_count(),
        "signals": {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)},
        "handlers": list(logging.getLogger().handlers),
        "gc": gc.get_threshold(),
        "recursion": sys.getrecursionlimit(),
        "frozen": gc.get_freeze_count(),
    }


before = process_state()

import bkjob_async

names = ["bkjob_async"]
for info in pkgutil.walk_packages(bkjob_async.__path__, "bkjob_async."):
    if info.name.rsplit(".", 1)[-1] == "__main__":
        continue
    try:
        importlib.import_module(info.name)
    except ImportError as exc:  # an optional dependency not installed
        if (exc.name or "").startswith("bkjob_async"):
            raise
        seen["skipped"].append(info.name)
        continue
    names.append(info.name)
for name in bkjob_async.__all__:
    getattr(bkjob_async, name)

after = process_state()
seen["changed"] = sorted(k for k in before if before[k] != after[k])
seen["imported"] = len(names)
seen["at_import"] = {k: list(seen[k]) for k in ("env", "at_fork", "atexit", "filters")}

from bkjob_async import sync

credentials = {"app_code": "a", "app_secret": "s", "username": "u"}
sync.BkJobClient("http://127.0.0.1:9", **credentials)
seen["first_client"] = {"at_fork": list(seen["at_fork"]), "atexit": list(seen["atexit"])}
sync.BkJobClient("http://127.0.0.1:9", **credentials)
seen["second_client"] = {"at_fork": list(seen["at_fork"]), "atexit": list(seen["atexit"])}
seen["threads_after_clients"] = threading.active_count() - before["threads"]
print(json.dumps(seen))
"""


def _python(code: str, timeout: float) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the lines it printed (it must exit 0)."""
    done = run_python(code, timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def _probe() -> dict[str, object]:
    seen: dict[str, object] = json.loads(_python(_PROBE, 120)[-1])
    return seen


def test_importing_every_module_has_no_effect_and_the_sync_hooks_come_with_the_first_client() -> (
    None
):
    seen = _probe()
    assert isinstance(seen["imported"], int)
    assert seen["imported"] > 100, seen["skipped"]  # (the walk found the package)
    assert seen["at_import"] == {"env": [], "at_fork": [], "atexit": [], "filters": []}
    assert seen["changed"] == []
    hooked = {"at_fork": ["sync.py"], "atexit": ["sync.py"]}
    assert seen["first_client"] == hooked  # made by the first sync client, once
    assert seen["second_client"] == hooked
    assert seen["threads_after_clients"] == 0  # (a client starts its loop when first used)


def test_the_speedups_switch_is_read_at_first_use_not_at_import() -> None:
    code = """
        import os
        import bkjob_async._json as j
        os.environ["BKJOB_ASYNC_NO_SPEEDUPS"] = "1"  # set after the import: still heard
        print(j.speedups(), j.loads(b'{"a": [1, null]}'), j.dumps({"a": None}))
        print(j.choose(speedups=False), j.speedups())
    """
    assert _python(code, 60) == ["False {'a': [1, None]} {\"a\":null}", "False False"]


def test_the_sync_client_takes_the_async_clients_arguments_by_name() -> None:
    import inspect

    from bkjob_async import client, sync

    ours = inspect.signature(sync.BkJobClient.__init__).parameters
    theirs = inspect.signature(client.BkJobClient.__init__).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values()
    ]
