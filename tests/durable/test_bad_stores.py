"""Stores that cannot be used are refused at open with a StoreError naming the file, untouched.

Root reads and writes any file regardless of its mode, so the permission cases drop to
``nobody`` in a forked child when the suite runs as root.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import textwrap
import warnings
from pathlib import Path

import anyio
import pytest

from bkjob_async import BkJobError, SqliteStore, StoreError
from bkjob_async.polling.stores.sqlite import _file as _sqlite

from ..child import Child
from .conftest import BIZ

NOBODY = 65534


async def _open(path: Path) -> None:
    async with SqliteStore(path):
        pass


def _refused(path: Path) -> StoreError:
    """Open ``path``; return the StoreError, checking the file was not changed."""
    before = _digest(path)
    with pytest.raises(StoreError) as caught:
        anyio.run(_open, path)
    assert _digest(path) == before, "a refused store was modified"
    assert str(path) in str(caught.value)
    assert caught.value.path == str(path)
    assert isinstance(caught.value, BkJobError)
    return caught.value


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


async def _make_store(path: Path, jobs: int = 5) -> None:
    async with SqliteStore(path) as store:
        store.add_jobs("w", [(BIZ, i) for i in range(jobs)])
        for i in range(jobs):
            store.commit("w", (BIZ, i), {"n": i, "pad": "p" * 200}, [(str(i), i)])


def _refused_as_nobody(path: Path) -> str:
    """Open ``path`` as an unprivileged user; return the StoreError message (or fail)."""
    if os.geteuid() != 0:
        return str(_refused(path))
    read, write = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a process with threads (anyio's idle workers);
        # the child only opens a file and reports through the pipe.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        os.close(read)
        message = b"opened"
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            anyio.run(_open, path)
        except StoreError as exc:
            message = f"StoreError: {exc}".encode()
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}".encode()
        os.write(write, message)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    assert message.startswith("StoreError: "), message
    return message


@pytest.fixture
def open_dir(tmp_path: Path) -> Path:
    """A directory any user may write, below one any user may enter."""
    base = Path(os.environ.get("TMPDIR", "/tmp"))
    directory = base / f"bkjob-store-test-{os.getpid()}-{os.urandom(4).hex()}"
    directory.mkdir(mode=0o777)
    directory.chmod(0o777)
    yield directory
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()


def test_a_store_held_by_another_live_process_is_refused_until_it_dies(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    anyio.run(_make_store, path)
    code = textwrap.dedent(
        f"""
        import sys, anyio
        from bkjob_async import SqliteStore
        async def main():
            async with SqliteStore({str(path)!r}):
                print("ready", flush=True)
                await anyio.to_thread.run_sync(sys.stdin.read)
        anyio.run(main)
        """
    )
    with Child(["-c", code]) as holder:
        assert holder.line() == "ready"
        error = _refused(path)
        assert "in use by another live poller" in str(error)
        assert f"pid {holder.pid}" in str(error)
    anyio.run(_open, path)  # SIGKILL released the lock


async def test_a_second_open_in_the_same_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path):
        with pytest.raises(StoreError, match="in use by another live poller"):
            await _open(path)


def test_an_unreadable_store_is_refused(open_dir: Path) -> None:
    path = open_dir / "s.db"
    anyio.run(_make_store, path)
    path.chmod(0o000)
    message = _refused_as_nobody(path)
    assert "cannot read the store" in message
    assert str(path) in message
    assert "access" in message


def test_a_read_only_store_is_refused(open_dir: Path) -> None:
    path = open_dir / "s.db"
    anyio.run(_make_store, path)
    path.chmod(0o444)
    before = _digest(path)
    message = _refused_as_nobody(path)
    assert _digest(path) == before
    assert "cannot use the store" in message
    assert "readonly" in message or "read-only" in message


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b'{"this": "is json, not a database"}\n' * 100)
    error = _refused(path)
    assert "not a SQLite database" in str(error)
    assert "move the file" in str(error)


def test_a_damaged_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    anyio.run(_make_store, path, 2000)
    data = bytearray(path.read_bytes())
    assert len(data) > 64 * 1024
    for offset in range(20 * 1024, len(data) - 4096, 8192):
        data[offset : offset + 2048] = os.urandom(2048)
    path.write_bytes(bytes(data))
    error = _refused(path)
    assert "unusable" in str(error)


def test_a_truncated_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    anyio.run(_make_store, path, 2000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "unusable" in str(_refused(path))


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT)")
    conn.execute("INSERT INTO accounts (owner) VALUES ('someone')")
    conn.commit()
    conn.close()
    assert "not a bkjob-async store" in str(_refused(path))


def test_a_store_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    anyio.run(_make_store, path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    error = _refused(path)
    assert f"newer bkjob-async (schema 7; this one reads up to {_sqlite.SCHEMA_VERSION})" in str(
        error
    )
    assert "upgrade" in str(error)


def test_a_missing_directory_or_a_directory_path_is_refused(tmp_path: Path) -> None:
    assert "does not exist" in str(_refused(tmp_path / "no" / "such" / "s.db"))
    (tmp_path / "adir").mkdir()
    assert "is a directory" in str(_refused(tmp_path / "adir"))


def test_an_empty_file_starts_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.touch()
    anyio.run(_make_store, path)
    assert path.stat().st_size > 0
