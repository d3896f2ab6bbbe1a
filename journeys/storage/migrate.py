"""Bring a database to the newest schema with the migrations in journeys/storage/migrations."""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from journeys.storage.database import sync_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats % specially; escape it so passwords survive.
    config.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """Idempotent: a database already at head is left as it is."""
    url = make_url(sync_url(database_url))
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not url.query and _create_at_head(path):
            return
    with _alembic_lock:
        command.upgrade(alembic_config(database_url), "head")


# Alembic keeps the running migration's context in module globals, so two threads of one
# process migrating at once (two databases, or the losers of a race for one new file)
# broke each other (KeyError: 'config'); one at a time, then.
_alembic_lock = threading.RLock()
_template: bytes | None = None  # a new SQLite database at head, migrated once per process


# What SQLite keeps beside a database file. A database deleted after a crash may leave its
# write-ahead log behind, and SQLite replays a log it finds over a whole database file (the
# deleted database's rows came back, or the file was corrupt); over the empty file the
# migrations start from, it discards it.
_SIDECARS = ("-wal", "-shm", "-journal")


def _create_at_head(path: Path) -> bool:
    """A new SQLite file as a copy of one the migrations made in this process (running
    them takes 0.15 s, a test suite makes a thousand databases); False if ``path`` exists,
    if files of an earlier database with its name are still beside it, or if the copy
    cannot be written (the migrations then make the database, as without the copy)."""
    if path.exists() or any(path.with_name(path.name + suffix).exists() for suffix in _SIDECARS):
        return False
    global _template
    with _alembic_lock:  # the template is made by the migrations too
        if _template is None:
            with tempfile.TemporaryDirectory(prefix="journeys-migrate-") as scratch:
                made = Path(scratch) / "head.db"
                command.upgrade(alembic_config(f"sqlite:///{made}"), "head")
                _template = made.read_bytes()
    # A short name of its own (a long database name plus a suffix could pass the file
    # system's limit), with the mode SQLite gives a file it creates.
    staged = path.with_name(f".{uuid.uuid4().hex}.journeys-new")
    try:
        descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(descriptor, "wb") as out:
            out.write(_template)
        os.link(staged, path)  # atomic and never over a file another process made meanwhile
    except OSError:
        # Another process's database (FileExistsError: migrated the usual way, a no-op at
        # head), a full disk, a file system without hard links: the migrations make it.
        return False
    finally:
        staged.unlink(missing_ok=True)
    return True


def make_revision(database_url: str, message: str) -> None:
    """Developer helper: autogenerate a migration from the models (``journeys makemigration``)."""
    upgrade(database_url)  # autogenerate compares the tables with a database at head
    command.revision(alembic_config(database_url), message=message, autogenerate=True)
