"""Record the histories that test_replay.py replays: ``python -m tests.workflows.record_histories``.

Run it after adding a journey or a branch, and commit the JSON files. Never re-record
to make a failing replay pass: a failing replay means the change would break customers
who are in that journey right now (see README, "Changing a live journey").
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from core.binaries import temporal_test_server
from core.temporal import DATA_CONVERTER
from core.testing import JourneyEnv, register_search_attributes, running_journeys
from workflows.definition import workflow_id
from workflows.registry import discover

HISTORIES = Path(__file__).resolve().parent / "histories"


async def welcome_activated(kit: JourneyEnv) -> None:
    await kit.emit("user.signed_up", customer="c", properties={"plan": "pro"})
    await kit.advance(hours=3)
    await kit.emit("user.activated", customer="c")


async def welcome_not_activated(kit: JourneyEnv) -> None:
    await kit.emit("user.signed_up", customer="c")
    await kit.advance(days=2, minutes=1)


async def cart_completed(kit: JourneyEnv) -> None:
    await kit.emit("cart.abandoned", customer="c", properties={"items": [{"name": "Mug"}]})
    await kit.advance(days=1, hours=2)


async def cart_exited(kit: JourneyEnv) -> None:
    await kit.emit("cart.abandoned", customer="c", properties={"items": [{"name": "Mug"}]})
    await kit.advance(hours=2)
    await kit.emit("order.placed", customer="c")


SCENARIOS: dict[str, tuple[str, Callable[[JourneyEnv], Awaitable[None]]]] = {
    "welcome_activated": ("welcome", welcome_activated),
    "welcome_not_activated": ("welcome", welcome_not_activated),
    "abandoned_cart_completed": ("abandoned_cart", cart_completed),
    "abandoned_cart_exited": ("abandoned_cart", cart_exited),
}


async def record() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER, test_server_existing_path=temporal_test_server()
    )
    await register_search_attributes(env)
    registry = discover()
    HISTORIES.mkdir(exist_ok=True)
    try:
        for name, (journey, scenario) in SCENARIOS.items():
            with tempfile.TemporaryDirectory() as home:
                async with running_journeys(env, registry, Path(home)) as kit:
                    await kit.customer("c", attributes={"first_name": "Cy"})
                    await scenario(kit)
                    history = await env.client.get_workflow_handle(workflow_id(journey, "c")).fetch_history()
                    (HISTORIES / f"{name}.json").write_text(history.to_json())
                    print(f"recorded {name}: {len(history.events)} events")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())
    os._exit(0)
