"""An API app for the template routes (previews, test sends): on SQLite and on PostgreSQL
(``database_url``), its ESP the mail catcher, Temporal away (neither route needs it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from temporalio.client import Client

from api.app import create_app
from journeys.devstack.mail_catcher import MailCatcher
from journeys.storage.database import Database
from journeys.storage.settings import Settings
from journeys.storage.temporal import DATA_CONVERTER
from tests.api.conftest import API_KEY, AUTH
from tests.conftest import free_port


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[MailCatcher]:
    with MailCatcher(tmp_path / "mail", port=free_port()) as running:
        yield running


@pytest.fixture
def template_settings() -> dict[str, Any]:
    """Extra settings; a test module overrides it."""
    return {}


@pytest_asyncio.fixture
async def template_app(
    tmp_path: Path, database_url: str, catcher: MailCatcher, template_settings: dict[str, Any]
) -> AsyncIterator[FastAPI]:
    settings = Settings(
        home=tmp_path, database_url=database_url, api_key=API_KEY, temporal_task_queue="template-tests",
        smtp_port=catcher.port, smtp_timeout_seconds=5, **template_settings,
    )
    temporal_away = await Client.connect(f"127.0.0.1:{free_port()}", data_converter=DATA_CONVERTER, lazy=True)
    app = create_app(settings, temporal_client=temporal_away)
    async with app.router.lifespan_context(app):
        yield app


@pytest_asyncio.fixture
async def http(template_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=template_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://journeys.test", headers=AUTH) as client:
        yield client


@pytest.fixture
def app_db(template_app: FastAPI) -> Database:
    return template_app.state.journeys.db  # type: ignore[no-any-return]


async def put_customer(http: httpx.AsyncClient, customer_id: str, **profile: Any) -> None:
    answer = await http.put(f"/v1/customers/{customer_id}", json=profile)
    assert answer.status_code in (200, 201), answer.text
