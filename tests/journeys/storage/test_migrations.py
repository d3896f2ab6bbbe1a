"""The migrations build exactly the schema journeys/storage/tables.py describes (SQLite and PostgreSQL)."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import journeys.storage.analytics_tables  # noqa: F401  (registers the tables)
import journeys.storage.tables  # noqa: F401
from journeys.storage.database import sync_url
from journeys.storage import migrate
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


def test_threads_migrating_at_once_all_succeed(tmp_path: Path) -> None:
    """Threads of one process creating one new database, and others migrating databases of
    their own: alembic's module-level context made the losers fail (KeyError: 'config')."""
    from concurrent.futures import ThreadPoolExecutor

    urls = [f"sqlite:///{tmp_path / 'one.db'}"] * 6 + [f"sqlite:///{tmp_path / f'own{i}.db'}?timeout=30" for i in range(3)]
    with ThreadPoolExecutor(len(urls)) as pool:
        list(pool.map(upgrade, urls))  # re-raises the first failure
    for name in ("one.db", "own0.db", "own1.db", "own2.db"):
        with sqlite3.connect(tmp_path / name) as connection:
            assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(_head(),)], name


def test_a_database_deleted_after_a_crash_comes_back_empty_not_from_its_old_log(tmp_path: Path) -> None:
    """A process killed with rows still in its write-ahead log, then `rm journeys.db` to
    start afresh (the -wal and -shm stay): the next start makes an empty, whole database.
    SQLite replays a log it finds beside a whole database file, so a copied one took the
    deleted database's rows back (its outbox rows would have been dispatched again)."""
    target = tmp_path / "journeys.db"
    crash = f"""
import os, sqlite3
from journeys.storage.migrate import upgrade
upgrade({f"sqlite:///{target}"!r})
c = sqlite3.connect({str(target)!r}, isolation_level=None)
c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA wal_autocheckpoint=0")
for i in range(300):
    c.execute("INSERT INTO suppressions (email_sha256, reason, source, created_at) VALUES (?, 'manual', 'old', '2026-01-01')", (f"old-{{i}}-" + "x" * 200,))
os.kill(os.getpid(), 9)
"""
    subprocess.run([sys.executable, "-c", crash], timeout=120)
    assert (tmp_path / "journeys.db-wal").exists(), "the crash left its log (else this test shows nothing)"
    target.unlink()
    upgrade(f"sqlite:///{target}")
    with sqlite3.connect(target) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("SELECT count(*) FROM suppressions").fetchall() == [(0,)]
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(_head(),)]


def test_a_long_database_name_is_made_like_any_other(tmp_path: Path) -> None:
    target = tmp_path / ("j" * 225 + ".db")  # a legal name; name + a staging suffix was not
    upgrade(f"sqlite:///{target}")
    assert _schema(target) == _schema_of_alembic(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, "by-alembic.db"])


def test_a_file_system_without_hard_links_gets_the_database_from_the_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(f"sqlite:///{tmp_path / 'warm' / 'first.db'}")  # the process's template exists

    def refuse(*_args: object) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(migrate.os, "link", refuse)
    made = tmp_path / "db" / "journeys.db"
    upgrade(f"sqlite:///{made}")
    assert sorted(p.name for p in made.parent.iterdir()) == ["journeys.db"], "no staged copy left"
    assert _schema(made) == _schema_of_alembic(tmp_path)


def test_a_disk_that_fills_up_mid_copy_leaves_no_half_copy_behind(tmp_path: Path) -> None:
    """The copy is written under a name of its own; when the write fails (here a file-size
    limit of 64 KiB, as a full disk or a quota would), that file goes too."""
    target = tmp_path / "db" / "journeys.db"
    full_disk = f"""
import resource, signal
from journeys.storage.migrate import upgrade
upgrade({f"sqlite:///{tmp_path / 'warm.db'}"!r})  # the template, made before the limit
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write over the limit fails instead of killing
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
try:
    upgrade({f"sqlite:///{target}"!r})
except Exception as exc:
    print("refused:", type(exc).__name__)
"""
    done = subprocess.run([sys.executable, "-c", full_disk], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "refused" in done.stdout, "the database did not fit: upgrade must say so"
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".")] == [], "a half copy was left"


def test_a_new_database_gets_the_mode_sqlite_itself_gives(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        upgrade(f"sqlite:///{tmp_path / 'copied.db'}")
        command.upgrade(alembic_config(f"sqlite:///{tmp_path / 'migrated.db'}"), "head")
    finally:
        os.umask(old)
    modes = {name: (tmp_path / name).stat().st_mode & 0o777 for name in ("copied.db", "migrated.db")}
    assert modes["copied.db"] == modes["migrated.db"], modes


def _schema_of_alembic(tmp_path: Path) -> list[tuple[str, str, list[str]]]:
    migrated = tmp_path / "by-alembic.db"
    if not migrated.exists():
        command.upgrade(alembic_config(f"sqlite:///{migrated}"), "head")
    return _schema(migrated)


def _head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
