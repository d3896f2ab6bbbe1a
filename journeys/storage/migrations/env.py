"""Alembic environment: run by ``journeys migrate`` (journeys/storage/migrate.py), not by alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import journeys.storage.analytics_tables  # noqa: F401  (registers the tables on SQLModel.metadata)
import journeys.storage.tables  # noqa: F401

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "journeys.storage.migrate sets sqlalchemy.url"
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying tables
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
