"""SQLite statements run on the event loop's own thread, waiting for a lock on aiosqlite's.

aiosqlite runs every call on a thread of its own and wakes the loop when it is done: two
thread switches and a self-pipe write per call. SQLAlchemy makes three or four such calls
per statement (cursor, execute, fetch, close) and more per transaction, so a statement
that SQLite itself finishes in microseconds costs about 0.35 ms of CPU; run here on the
loop's thread it costs about 0.06 ms (README, "Benchmarks").

What a call may not do on the loop's thread is *wait*:

* Another process holding SQLite's write lock (the API storing events while the worker
  records a send). The connection's own busy timeout is zero, so such a call fails at
  once having done nothing (SQLITE_BUSY leaves the statement unexecuted) and is run again
  on aiosqlite's thread with the real timeout, where waiting blocks nobody.
* A WAL checkpoint (copying the log back into the database file, with an fsync), which
  SQLite would otherwise run inside whichever commit crosses its threshold. Inline
  connections turn that off (``wal_autocheckpoint=0``, set by journeys/storage/database.py)
  and run a passive checkpoint on the thread every ``CHECKPOINT_EVERY`` commits.

The calls of one connection run one at a time, whichever thread runs each: once a call
has gone to the thread, every later call queues behind it there until the thread itself
says it has finished (a cancelled wait does not: SQLAlchemy closing the connection of a
cancelled request must not touch it while the thread still steps a statement on it).

Long reads (analytics, a customer's timeline) use ``Database.report_session()``, on a
threaded engine, so a report never stalls the requests around it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import aiosqlite

# How long a call waits for another writer, on the thread (as journeys/storage/database.py
# sets for threaded connections).
BUSY_TIMEOUT_MS = 10_000
# Commits of one connection between two passive checkpoints (SQLite's own default is a
# checkpoint per 1,000 pages of log; a commit of a send or a group of events is a few pages).
CHECKPOINT_EVERY = 100


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run inline unless they would wait."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._on_thread = 0  # calls handed to the thread and not yet finished there
        self._count_lock = threading.Lock()
        self._commits = 0

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if not self._on_thread:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
        return await self._thread_call(fn, *args, **kwargs)

    async def _thread_call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn`` on aiosqlite's thread, behind whatever runs there, allowed to wait."""
        connection = self._conn

        def waiting() -> Any:
            try:
                connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}").fetchall()
                try:
                    return fn(*args, **kwargs)
                finally:
                    connection.execute("PRAGMA busy_timeout=0").fetchall()
            finally:
                with self._count_lock:  # by the thread itself, once it is really done
                    self._on_thread -= 1

        with self._count_lock:
            self._on_thread += 1
        return await super()._execute(waiting)

    async def commit(self) -> None:
        await self._execute(self._conn.commit)
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0:
            await self._thread_call(self._checkpoint)

    def _checkpoint(self) -> None:
        # Read to the end: a statement left open would make the next commit fail.
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def connect(path: str) -> InlineConnection:
    """What ``create_async_engine(..., async_creator=...)`` awaits for each new connection;
    ``path`` is absolute (journeys/storage/database.py resolves it once: a later chdir must
    not move the database)."""

    def connector() -> sqlite3.Connection:
        # Made on aiosqlite's thread, used on the loop's too (never both at once).
        return sqlite3.connect(path, timeout=0, check_same_thread=False)

    connection = InlineConnection(connector, iter_chunk_size=64)
    connection._thread.daemon = True  # as SQLAlchemy does for its own aiosqlite connections
    return connection
