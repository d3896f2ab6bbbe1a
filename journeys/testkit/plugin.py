"""The journey test kit as a pytest plugin. Enable it with one line in ``conftest.py``::

    pytest_plugins = ["journeys.testkit"]

and write tests against the ``journey_env`` fixture::

    async def test_reminder_after_an_hour(journey_env):
        await journey_env.customer("c1", email="ann@example.com")
        await journey_env.emit("cart.abandoned", customer="c1", properties={"total": 42})
        await journey_env.advance(hours=2)
        assert journey_env.sent_to("c1") == ["cart_reminder"]

Settings for one test module (quiet hours, caps, ...) come from a ``journey_settings``
fixture the module overrides::

    @pytest.fixture
    def journey_settings():
        return {"quiet_hours": "21:00-08:00", "frequency_cap_24h": 1}
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from journeys.devstack.binaries import temporal_test_server
from journeys.storage.temporal import DATA_CONVERTER
from journeys.testkit.kit import JourneyEnv, register_search_attributes, running_journeys
from workflows.registry import Registry, discover


@pytest_asyncio.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER, test_server_existing_path=temporal_test_server()
    )
    await register_search_attributes(env)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def journey_registry() -> Registry:
    return discover()


@pytest.fixture
def journey_settings() -> dict[str, Any]:
    """Settings for the journeys under test; override this fixture to change them."""
    return {}


@pytest_asyncio.fixture
async def journey_env(
    time_skipping_env: WorkflowEnvironment,
    journey_registry: Registry,
    journey_settings: dict[str, Any],
    tmp_path: Path,
) -> AsyncIterator[JourneyEnv]:
    async with running_journeys(time_skipping_env, journey_registry, tmp_path, **journey_settings) as kit:
        yield kit
