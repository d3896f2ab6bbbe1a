"""The storage ceiling for batches: what the database itself takes for the rows a batch of
events stores, in transactions of the same size, with nothing else in the way (no HTTP, no
validation, no ORM). The API's batch figure is printed as a share of it.

SQLite, as ``make dev`` runs it: a file in WAL mode with ``synchronous=NORMAL`` (the
pragmas journeys/storage/database.py sets), rows written by the standard library's
sqlite3 ``executemany``, one transaction per batch.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from journeys.storage.migrate import upgrade

_INSERT = (
    "INSERT INTO events (id, type, customer_id, properties, timestamp, received_at) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO NOTHING"
)


def storage_ceiling_rows_per_s(batches: int, size: int) -> float:
    """Rows per second for ``batches`` transactions of ``size`` event rows (as bench/load.py sends them)."""
    with tempfile.TemporaryDirectory(prefix="journeys-bench-ceiling-") as home:
        path = Path(home) / "ceiling.db"
        upgrade(f"sqlite:///{path}")
        connection = sqlite3.connect(path, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
            started = time.perf_counter()
            for b in range(batches):
                rows = [(f"c-{b}-{i}", "bench.ping", f"p{i % 100}", json.dumps({}), stamp, stamp) for i in range(size)]
                connection.execute("BEGIN")
                connection.executemany(_INSERT, rows)
                connection.execute("COMMIT")
            took = time.perf_counter() - started
        finally:
            connection.close()
    return batches * size / took
