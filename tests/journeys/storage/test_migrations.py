"""The migrations build exactly the schema journeys/storage/tables.py describes (SQLite and PostgreSQL)."""

import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import journeys.storage.analytics_tables  # noqa: F401  (registers the tables)
import journeys.storage.tables  # noqa: F401
from journeys.storage.database import sync_url
from journeys.storage.migrate import alembic_config, upgrade


def test_migrated_database_matches_the_models(database_url: str) -> None:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    finally:
        engine.dispose()
    assert differences == [], "journeys/storage/tables.py changed without a migration: run `journeys makemigration`"


def _schema(path: Path) -> list[tuple[str, str, list[str]]]:
    """Each table's and index's definition, its clauses in order of name: alembic's batch
    mode writes a rebuilt table's constraints in an order that differs from run to run."""
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    return [(kind, name, sorted(clause.strip(" \t\n)") for clause in (sql or "").split(", \n"))) for kind, name, sql in rows]


def test_a_new_sqlite_database_is_what_the_migrations_make(tmp_path: Path) -> None:
    """upgrade() copies a new SQLite file from one migrated once per process: the copy must
    be the migrations' own schema, at head, and an existing file is migrated, never replaced."""
    migrated = tmp_path / "by-alembic.db"
    command.upgrade(alembic_config(f"sqlite:///{migrated}"), "head")
    copied = tmp_path / "new" / "journeys.db"
    upgrade(f"sqlite:///{copied}")
    upgrade(f"sqlite:///{tmp_path / 'second.db'}")
    assert _schema(copied) == _schema(migrated) == _schema(tmp_path / "second.db")
    with sqlite3.connect(copied) as connection:
        connection.execute("INSERT INTO suppressions (email_sha256, reason, source, created_at) VALUES ('k', 'manual', 'x', '2026-01-01')")
    upgrade(f"sqlite:///{copied}")  # at head already: left as it is, rows and all
    with sqlite3.connect(copied) as connection:
        assert connection.execute("SELECT email_sha256 FROM suppressions").fetchall() == [("k",)]
    assert sorted(p.name for p in copied.parent.iterdir()) == ["journeys.db"], "no staged copy left behind"


def test_processes_creating_one_new_database_at_once_leave_it_whole(tmp_path: Path) -> None:
    """The worker and the API of `make dev` both migrate at start: whichever comes second
    finds the first one's file, not half a copy."""
    target = tmp_path / "journeys.db"
    script = f"from journeys.storage.migrate import upgrade; upgrade({f'sqlite:///{target}'!r})"
    runs = [subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [run.communicate(timeout=120)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0], errors
    with sqlite3.connect(target) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(_head(),)]


def _head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
