"""Database engine and sessions (async SQLAlchemy under SQLModel) for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import json
import os

from sqlalchemy import JSON, String, bindparam, cast, event, func, literal
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.storage import sqlite_inline as sqlite_inline_module


_Statement = TypeVar("_Statement")


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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, inline: bool) -> None:
    # WAL lets the API read while the worker writes; busy_timeout queues writers instead
    # of failing them with "database is locked". Inline connections neither wait for a
    # lock nor checkpoint in a commit on the loop's thread: they do both on a thread
    # (journeys/storage/sqlite_inline.py).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={0 if inline else sqlite_inline_module.BUSY_TIMEOUT_MS}")
    if inline:
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def inline_sqlite_path(url: str) -> str | None:
    """The file an inline SQLite engine would open for ``url``; None where there is none
    (not SQLite, in memory, or a URI with options, which plain aiosqlite keeps)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:" or parsed.query:
        return None
    return os.path.abspath(parsed.database)


def create_engine(url: str, *, sqlite_inline: bool = False, **kwargs: Any) -> AsyncEngine:
    url = async_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        path = inline_sqlite_path(url) if sqlite_inline else None
        if path is not None:
            kwargs["async_creator"] = lambda: sqlite_inline_module.connect(path)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", partial(_sqlite_pragmas, inline=path is not None))
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class Database:
    """An engine plus a session factory; one per process, shared by API or worker.

    ``sqlite_inline``: SQLite statements run on the event loop's thread (waiting for a lock
    on a thread of their own: journeys/storage/sqlite_inline.py), except those of
    ``report_session``, which keep a thread so that a long report never stalls the loop.
    """

    def __init__(self, url: str, *, sqlite_inline: bool = False, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, sqlite_inline=sqlite_inline, **engine_kwargs)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._prepared: dict[Callable[[Database], Any], Any] = {}
        inline = sqlite_inline and inline_sqlite_path(url) is not None
        self._reports_engine = create_engine(url, **engine_kwargs) if inline else None
        self._report_sessions = (
            async_sessionmaker(self._reports_engine, class_=AsyncSession, expire_on_commit=False)
            if self._reports_engine is not None
            else self._sessions
        )

    def prepared(self, build: Callable[[Database], _Statement]) -> _Statement:
        """The statement ``build`` makes, made once per database and reused: SQLAlchemy
        computes a statement object's cache key once, where a statement built per call
        (values written into it) costs a key walked over every value, every time. Pass the
        values as parameters when executing it."""
        statement = self._prepared.get(build)
        if statement is None:
            statement = self._prepared[build] = build(self)
        return statement  # type: ignore[no-any-return]

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

    def json_append_param(self, column: Any, name: str) -> Any:
        """``json_append`` with the item as the parameter ``name`` (its value made by
        ``json_item``), for a statement made once (``prepared``)."""
        if self.is_sqlite:
            return func.json_insert(column, "$[#]", func.json(bindparam(name, type_=String)))
        return cast(cast(column, JSONB).op("||")(bindparam(name, type_=JSONB)), JSON)

    def json_item(self, item: Any) -> Any:
        """The value of a ``json_append_param`` parameter for ``item``."""
        return json.dumps(item) if self.is_sqlite else [item]

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def report_session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads that may take long (analytics, a customer's timeline)."""
        async with self._report_sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._reports_engine is not None:
            await self._reports_engine.dispose()
