"""The worker refuses a namespace that lacks the search attributes every journey sets,
naming the command that adds them (every start would be refused otherwise)."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from journeys.contracts import search_attributes as sa
from journeys.devstack.binaries import temporal_cli
from journeys.storage.temporal import DATA_CONVERTER, NamespaceNotReady, check_namespace


async def test_a_namespace_with_every_search_attribute_is_ready(dev_server: WorkflowEnvironment) -> None:
    await check_namespace(dev_server.client)


async def test_a_namespace_missing_one_is_refused_with_the_fix() -> None:
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER, dev_server_existing_path=temporal_cli(), search_attributes=(sa.CUSTOMER_ID, sa.JOURNEY, sa.JOURNEY_STEP)
    )
    try:
        with pytest.raises(NamespaceNotReady) as refused:
            await check_namespace(env.client)
        assert "lacks the search attributes CustomerKey" in str(refused.value)
        assert "temporal operator search-attribute create --name CustomerKey --type Keyword" in str(refused.value)
    finally:
        await env.shutdown()
