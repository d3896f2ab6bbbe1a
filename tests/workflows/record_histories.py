"""Record the histories that test_replay.py replays: ``python -m tests.workflows.record_histories``.

Run it after adding a journey or a branch, and commit the JSON files. It records only
scenarios with no file yet (``--all`` re-records every one). Never re-record
to make a failing replay pass: a failing replay means the change would break customers
who are in that journey right now (see README, "Changing a live journey").
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from journeys.devstack.binaries import temporal_test_server
from journeys.storage.temporal import DATA_CONVERTER
from journeys.testkit import JourneyEnv, register_search_attributes, running_journeys
from journeys.contracts.journey_spec import workflow_id
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


async def message_sent(kit: JourneyEnv) -> None:
    await kit.send_message("c", "welcome", id="m1")


async def message_after_quiet_hours(kit: JourneyEnv) -> None:
    now = await kit.now()
    ten_pm = now.replace(hour=22, minute=0, second=0, microsecond=0)
    await kit.advance_to(ten_pm if ten_pm > now else ten_pm + timedelta(days=1))
    await kit.send_message("c", "getting_started", id="m1")
    await kit.advance(hours=11)


# name -> (journey, scenario, key of a keyed journey, settings)
SCENARIOS: dict[str, tuple[str, Callable[[JourneyEnv], Awaitable[None]], str | None, dict[str, Any]]] = {
    "welcome_activated": ("welcome", welcome_activated, None, {}),
    "welcome_not_activated": ("welcome", welcome_not_activated, None, {}),
    "abandoned_cart_completed": ("abandoned_cart", cart_completed, None, {}),
    "abandoned_cart_exited": ("abandoned_cart", cart_exited, None, {}),
    # Runs started at engine version 1 (workflows/versions.py): no patch markers.
    "welcome_activated_engine1": ("welcome", welcome_activated, None, {}),
    "welcome_not_activated_engine1": ("welcome", welcome_not_activated, None, {}),
    "abandoned_cart_exited_engine1": ("abandoned_cart", cart_exited, None, {}),
    # Engine version 2: each send's first attempt is a local activity (a marker, no activity task).
    "welcome_activated_engine2": ("welcome", welcome_activated, None, {}),
    "welcome_not_activated_engine2": ("welcome", welcome_not_activated, None, {}),
    "abandoned_cart_exited_engine2": ("abandoned_cart", cart_exited, None, {}),
    "message_after_quiet_hours_engine2": ("message", message_after_quiet_hours, "m1", {"quiet_hours": "21:00-08:00"}),
    "message_sent": ("message", message_sent, "m1", {}),
    "message_after_quiet_hours": ("message", message_after_quiet_hours, "m1", {"quiet_hours": "21:00-08:00"}),
}


async def record(everything: bool = False) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER, test_server_existing_path=temporal_test_server()
    )
    await register_search_attributes(env)
    registry = discover()
    HISTORIES.mkdir(exist_ok=True)
    try:
        for name, (journey, scenario, key, settings) in SCENARIOS.items():
            if (HISTORIES / f"{name}.json").exists() and not everything:
                continue
            with tempfile.TemporaryDirectory() as home:
                async with running_journeys(env, registry, Path(home), **settings) as kit:
                    await kit.customer("c", attributes={"first_name": "Cy"})
                    await scenario(kit)
                    history = await env.client.get_workflow_handle(workflow_id(journey, "c", key)).fetch_history()
                    (HISTORIES / f"{name}.json").write_text(history.to_json())
                    print(f"recorded {name}: {len(history.events)} events")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    import sys

    asyncio.run(record(everything="--all" in sys.argv))
    os._exit(0)
