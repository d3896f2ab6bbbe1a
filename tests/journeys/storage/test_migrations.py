"""The migrations build exactly the schema journeys/storage/tables.py describes (SQLite and PostgreSQL)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import journeys.storage.analytics_tables  # noqa: F401  (registers the tables)
import journeys.storage.tables  # noqa: F401
from journeys.storage.database import sync_url


def test_migrated_database_matches_the_models(database_url: str) -> None:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    finally:
        engine.dispose()
    assert differences == [], "journeys/storage/tables.py changed without a migration: run `journeys makemigration`"
