"""Bring a database to the newest schema with the migrations in journeys/storage/migrations."""

from __future__ import annotations

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
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), "head")


def make_revision(database_url: str, message: str) -> None:
    """Developer helper: autogenerate a migration from the models (``journeys makemigration``)."""
    upgrade(database_url)  # autogenerate compares the tables with a database at head
    command.revision(alembic_config(database_url), message=message, autogenerate=True)
