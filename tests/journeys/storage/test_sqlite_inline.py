"""The worker's SQLite statements run on the event loop's thread, and a database locked by
another process is waited for on a thread, with the loop free and nothing lost."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import text

from journeys.storage.database import Database
from journeys.storage.migrate import upgrade
from journeys.storage.sqlite_inline import CHECKPOINT_EVERY

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


async def test_a_request_cancelled_while_it_waits_for_the_lock_leaves_the_connection_whole(tmp_path: Path) -> None:
    """SQLAlchemy closes the connection of a cancelled call while aiosqlite's thread still
    steps its statement: that close must queue behind it (touching the connection from the
    loop's thread meanwhile crashed the process)."""
    path = tmp_path / "j.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url, sqlite_inline=True, pool_size=1, max_overflow=0)  # the next session reuses it
    async with db.session() as session:
        await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        async with db.session() as session:
            await session.exec(  # type: ignore[call-overload]
                text("INSERT INTO suppressions (email_sha256, reason, source, created_at) VALUES ('gone', 'manual', 'x', '2026-01-01')")
            )
            await session.commit()

    # The other writer lets go while the cancelled write still waits on the thread (until
    # then the cancellation's rollback queues behind it, up to the busy timeout).
    release = asyncio.get_running_loop().call_later(2 * LOCK_HELD_S, other.execute, "COMMIT")
    try:
        try:
            await asyncio.wait_for(write(), LOCK_HELD_S)  # cancelled while it waits on the thread
        except TimeoutError:
            pass
        release.cancel()
        if other.in_transaction:
            other.execute("COMMIT")
        async with db.session() as session:  # the same connection (or a fresh one), usable
            busy = (await session.exec(text("PRAGMA busy_timeout"))).scalar_one()  # type: ignore[call-overload]
            await session.exec(  # type: ignore[call-overload]
                text("INSERT INTO suppressions (email_sha256, reason, source, created_at) VALUES ('kept', 'manual', 'x', '2026-01-01')")
            )
            await session.commit()
        rows = other.execute("SELECT email_sha256 FROM suppressions ORDER BY 1").fetchall()
    finally:
        other.close()
        await db.dispose()
    assert busy == 0, "inline connections never wait on the loop's thread"
    assert rows == [("kept",)], "the cancelled transaction left nothing; the next one is whole"


def test_a_process_that_does_not_dispose_its_database_still_exits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    upgrade(url)
    script = (
        "import asyncio, sys\n"
        "from sqlalchemy import text\n"
        "from journeys.storage.database import Database\n"
        "async def main():\n"
        f"    db = Database({url!r}, sqlite_inline=True)\n"
        "    async with db.session() as s:\n"
        "        await s.exec(text('SELECT 1'))\n"
        "    sys.modules['__main__'].kept = db  # never disposed, as after a crash out of main\n"
        "asyncio.run(main())\n"
    )
    finished = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True, cwd=Path(__file__).parents[3])
    assert finished.returncode == 0, finished.stderr.decode()


async def test_the_log_is_checkpointed_off_the_loop_so_it_does_not_grow_without_bound(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url, sqlite_inline=True)
    padding = "x" * 2000
    try:
        for i in range(10 * CHECKPOINT_EVERY):
            async with db.session() as session:
                await session.exec(  # type: ignore[call-overload]
                    text("INSERT INTO suppressions (email_sha256, reason, source, created_at) VALUES (:e, 'manual', :s, '2026-01-01')"),
                    params={"e": f"{i:064d}", "s": padding[:40]},
                )
                await session.commit()
        wal = Path(f"{path}-wal").stat().st_size
    finally:
        await db.dispose()
    # Unchecked, the log holds every commit's pages (SQLite's own checkpoint is off on
    # inline connections); checkpointed every CHECKPOINT_EVERY commits, it is reused.
    assert wal < 10 * CHECKPOINT_EVERY * 4096 / 3
