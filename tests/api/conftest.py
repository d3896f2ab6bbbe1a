"""An API app per test, on a fresh SQLite database.

Its Temporal client points at a closed port: these tests are about HTTP, and the API
must answer the same while Temporal is away (events wait in the outbox). Dispatch
itself is tested in tests/journeys/dispatch/test_outbox.py and end to end in tests/test_end_to_end.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from temporalio.client import Client

from api.app import create_app
from journeys.storage.migrate import upgrade
from journeys.storage.settings import Settings
from journeys.storage.temporal import DATA_CONVERTER
from tests.conftest import free_port

API_KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def api_settings() -> dict[str, Any]:
    """Extra settings for the app under test; a test module overrides this fixture."""
    return {}


@pytest_asyncio.fixture
async def api_app(tmp_path: Path, api_settings: dict[str, Any]) -> AsyncIterator[FastAPI]:
    database_url = f"sqlite:///{tmp_path / 'journeys.db'}"
    upgrade(database_url)
    settings = Settings(
        home=tmp_path, database_url=database_url, api_key=API_KEY, temporal_task_queue="api-tests", **api_settings
    )
    temporal_away = await Client.connect(f"127.0.0.1:{free_port()}", data_converter=DATA_CONVERTER, lazy=True)
    app = create_app(settings, temporal_client=temporal_away)
    async with app.router.lifespan_context(app):
        yield app


@pytest_asyncio.fixture
async def api(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://journeys.test", headers=AUTH) as client:
        yield client


@pytest_asyncio.fixture
async def live_api(api_app: FastAPI) -> AsyncIterator[str]:
    """The same app served over real HTTP on loopback (for links opened from an email)."""
    import asyncio

    import uvicorn

    from tests.conftest import wait_until

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api_app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    await wait_until(started, what="uvicorn serving")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
