"""The worker's SQLite statements run on the event loop's thread, and a database locked by
another process is waited for on a thread, with the loop free and nothing lost."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text

from journeys.storage.database import Database
from journeys.storage.migrate import upgrade

LOCK_HELD_S = 0.3


async def _sql_thread(db: Database, *, report: bool = False) -> int:
    async with db.report_session() if report else db.session() as session:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        await raw.driver_connection.create_function("thread_id", 0, threading.get_ident)  # type: ignore[union-attr]
        return int((await connection.execute(text("SELECT thread_id()"))).scalar_one())


async def test_inline_statements_run_on_the_loops_thread_and_reports_and_plain_ones_do_not(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    upgrade(url)
    inline, threaded = Database(url, sqlite_inline=True), Database(url)
    try:
        assert await _sql_thread(inline) == threading.get_ident()
        # A report may take long: it keeps a thread, so the loop serves requests meanwhile.
        assert await _sql_thread(inline, report=True) != threading.get_ident()
        assert await _sql_thread(threaded) != threading.get_ident()
    finally:
        await inline.dispose()
        await threaded.dispose()


async def test_a_write_waits_for_another_processs_lock_without_stalling_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    loop = asyncio.get_running_loop()
    db = Database(url, sqlite_inline=True)
    async with db.session() as session:  # the database in WAL mode, as the API and worker keep it
        await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock (the API storing events)
    longest_stall = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal longest_stall
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(0.01)
            longest_stall = max(longest_stall, loop.time() - before)

    async def release() -> None:
        await asyncio.sleep(LOCK_HELD_S)
        other.execute("INSERT INTO suppressions (email_sha256, reason, source, created_at) VALUES ('a', 'manual', 'other', '2026-01-01')")
        other.execute("COMMIT")

    ticking = asyncio.create_task(ticker())
    releasing = asyncio.create_task(release())
    started = loop.time()
    try:
        async with db.session() as session:
            await session.exec(  # type: ignore[call-overload]
                text(
                    "INSERT INTO suppressions (email_sha256, reason, source, created_at) "
                    "VALUES ('b', 'manual', 'worker', '2026-01-01')"
                )
            )
            await session.commit()
        waited = loop.time() - started
        await releasing
        stop.set()
        await ticking
        rows = other.execute("SELECT email_sha256 FROM suppressions ORDER BY email_sha256").fetchall()
    finally:
        other.close()
        await db.dispose()
    assert rows == [("a",), ("b",)], "both writers' rows are kept"
    assert LOCK_HELD_S * 0.9 <= waited < LOCK_HELD_S + 5, "the write waited for the lock, and took it once free"
    # The loop kept running while the write waited (blocked, one tick would have waited it out).
    assert longest_stall < LOCK_HELD_S / 2
