"""Database engine and sessions (async SQLAlchemy under SQLModel) for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import json

from sqlalchemy import JSON, cast, event, func, literal
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


def async_url(url: str) -> str:
    """Accept the URLs people write (``postgresql://``, ``sqlite:///``) and pick async drivers."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}
    return str(parsed.set(drivername=driver.get(parsed.drivername, parsed.drivername)).render_as_string(hide_password=False))


def sync_url(url: str) -> str:
    """The same database with a synchronous driver, for migrations."""
    parsed = make_url(url)
    driver = {
        "sqlite+aiosqlite": "sqlite",
        "postgresql": "postgresql+psycopg",
        "postgres": "postgresql+psycopg",
    }
    return str(parsed.set(drivername=driver.get(parsed.drivername, parsed.drivername)).render_as_string(hide_password=False))


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while the worker writes; busy_timeout queues writers
    # instead of failing them with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = async_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class Database:
    """An engine plus a session factory; one per process, shared by API or worker."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    def insert(self, table: Any) -> Any:
        """INSERT with this backend's ON CONFLICT support (SQLite and PostgreSQL share the syntax)."""
        return sqlite_insert(table) if self.is_sqlite else postgresql_insert(table)

    def json_append(self, column: Any, item: Any) -> Any:
        """SQL for ``column`` (a JSON array) with ``item`` appended, done by the database in
        the UPDATE itself: two writers appending at once both keep their item."""
        if self.is_sqlite:
            return func.json_insert(column, "$[#]", func.json(json.dumps(item)))
        return cast(cast(column, JSONB).op("||")(literal([item], type_=JSONB)), JSON)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
