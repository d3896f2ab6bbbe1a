"""SQLite statements run on the event loop's own thread, waiting for a lock on aiosqlite's.

aiosqlite runs every call on a thread of its own and wakes the loop when it is done: two
thread switches and a self-pipe write per call. SQLAlchemy makes three or four such calls
per statement (cursor, execute, fetch, close) and more per transaction, so a statement
that SQLite itself finishes in microseconds costs about 0.35 ms of CPU; run here on the
loop's thread it costs about 0.06 ms (bench figures in the README).

What a call may not do on the loop's thread is *wait*: another process holding SQLite's
write lock (the API storing events while the worker records a send). So the connection's
own busy timeout is zero: a call that finds the database locked fails at once, having
done nothing (SQLITE_BUSY leaves the statement unexecuted), and is run again on
aiosqlite's thread with the real timeout, where waiting blocks nobody. The calls of one
connection still run one at a time, as SQLAlchemy makes them, whichever thread runs each.

Used where statements are short and many (the worker's sends and ledger: see
``Database(..., sqlite_inline=True)``); a process that also runs long reports (the API)
keeps plain aiosqlite, so a report never stalls the requests around it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite

# How long a call waits for another writer, on the thread (as journeys/storage/database.py
# sets for threaded connections).
BUSY_TIMEOUT_MS = 10_000


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run inline unless the database is locked."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
        connection = self._connection

        def waiting() -> Any:
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            try:
                return fn(*args, **kwargs)
            finally:
                connection.execute("PRAGMA busy_timeout=0")

        return await super()._execute(waiting)


def connect(database: str) -> InlineConnection:
    """What ``create_async_engine(..., async_creator=...)`` awaits for each new connection."""

    def connector() -> sqlite3.Connection:
        # Made on aiosqlite's thread, used on the loop's too (never both at once).
        return sqlite3.connect(database, timeout=0, check_same_thread=False)

    return InlineConnection(connector, iter_chunk_size=64)
