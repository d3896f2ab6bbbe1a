"""A dashboard per test: the API app on a fresh database (SQLite, and PostgreSQL when
reachable: ``database_url`` runs each test on both), Temporal away (the pages answer from
the database; the live breakdown says Temporal did not answer)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from temporalio.client import Client

from api.app import create_app
from journeys.storage.database import Database
from journeys.storage.settings import Settings
from journeys.storage.temporal import DATA_CONVERTER
from tests.conftest import free_port

API_KEY = "dashboard-key-0123456789"
BEARER = {"Authorization": f"Bearer {API_KEY}"}
BASE = "http://journeys.test"


@pytest.fixture
def dashboard_settings() -> dict[str, Any]:
    """Extra settings for the app under test; a test module overrides (or parametrizes) it."""
    return {}


@pytest_asyncio.fixture
async def dashboard_app(tmp_path: Path, database_url: str, dashboard_settings: dict[str, Any]) -> AsyncIterator[FastAPI]:
    settings = Settings(
        home=tmp_path, database_url=database_url, api_key=API_KEY, temporal_task_queue="dashboard-tests", **dashboard_settings
    )
    temporal_away = await Client.connect(f"127.0.0.1:{free_port()}", data_converter=DATA_CONVERTER, lazy=True)
    app = create_app(settings, temporal_client=temporal_away)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def app_db(dashboard_app: FastAPI) -> Database:
    return dashboard_app.state.journeys.db  # type: ignore[no-any-return]


@pytest_asyncio.fixture
async def anonymous(dashboard_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A browser without a session (redirects not followed: each is checked)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=dashboard_app), base_url=BASE) as client:
        yield client


@pytest_asyncio.fixture
async def logged_in(anonymous: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same browser once it has logged in (its cookie jar holds the session)."""
    answer = await anonymous.post("/dashboard/login", data={"key": API_KEY, "next": "/dashboard"})
    assert answer.status_code == 303, answer.text
    return anonymous


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token the page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "no CSRF token on the page"
    return found[1]
