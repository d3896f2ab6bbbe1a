"""What reaches a journey before its first workflow task, and cancelling one from outside.

On the real dev server: events are dispatched while no worker runs, so the journey's
first task holds the trigger and what came right after it, as after a worker outage.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from journeys.storage.database import Database
from journeys.dispatch.dispatcher import Dispatcher
from journeys.contracts.events import Event
from journeys.customers.identity import merge_into
from journeys.operations.journey_control import cancel_journey
from journeys.contracts.journey_io import QUERY_STATE, JourneyResult, JourneyState
from journeys.storage.migrate import upgrade
from journeys.testkit import running_journeys
from tests.conftest import wait_until
from workflows.registry import discover

POLICY_TEMPLATES = Path(__file__).parent / "policy_templates"


async def database(home: Path) -> Database:
    home.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{home / 'journeys.db'}"
    upgrade(url)
    return Database(url)


async def test_an_exit_that_came_with_the_trigger_still_ends_the_journey(dev_server: WorkflowEnvironment, tmp_path: Path) -> None:
    queue, customer = f"edge-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:6]}"
    registry = discover()
    db = await database(tmp_path)
    dispatcher = Dispatcher(dev_server.client, registry, db, queue)
    await dispatcher.dispatch(Event(id=f"{customer}-cart", type="cart.abandoned", customer_id=customer, properties={"items": []}))
    await dispatcher.dispatch(Event(id=f"{customer}-order", type="order.placed", customer_id=customer))
    async with running_journeys(dev_server, registry, tmp_path, temporal_task_queue=queue):
        handle = dev_server.client.get_workflow_handle(f"journey:abandoned_cart:{customer}", result_type=JourneyResult)
        result = await asyncio.wait_for(handle.result(), timeout=15)  # not ended: it would send
    assert (result.outcome, result.exit_event_type, result.sent) == ("exited", "order.placed", [])
    await db.dispose()


async def test_a_merge_that_came_before_the_first_task_is_kept(dev_server: WorkflowEnvironment, tmp_path: Path) -> None:
    queue, anon = f"edge-{uuid.uuid4().hex[:8]}", f"anon-{uuid.uuid4().hex[:6]}"
    registry = discover()
    db = await database(tmp_path)
    dispatcher = Dispatcher(dev_server.client, registry, db, queue)
    await dispatcher.dispatch(Event(id=f"{anon}-cart", type="cart.abandoned", customer_id=anon, properties={"items": []}))
    merged = await merge_into(db, anon, f"known-{anon}")
    assert merged is not None
    await dispatcher.dispatch(merged)
    async with running_journeys(dev_server, registry, tmp_path, temporal_task_queue=queue):
        handle = dev_server.client.get_workflow_handle(f"journey:abandoned_cart:{anon}")

        async def adopted() -> JourneyState | None:
            state = await handle.query(QUERY_STATE, result_type=JourneyState)
            return state if state.step.startswith("before") else None

        state = await wait_until(adopted, what="the journey waiting")
        assert state.customer_id == f"known-{anon}"
        await handle.terminate("test done")
    await db.dispose()


async def test_cancelling_a_journey_whose_send_waits_logs_the_send_cancelled(dev_server: WorkflowEnvironment, tmp_path: Path) -> None:
    now = datetime.now(timezone.utc)
    quiet = f"{(now - timedelta(hours=1)):%H:00}-{(now + timedelta(hours=2)):%H:00}"  # now is inside, in UTC
    registry = discover("tests.workflows.policy_journeys")
    async with running_journeys(dev_server, registry, tmp_path, templates_dir=POLICY_TEMPLATES, quiet_hours=quiet) as kit:
        await kit.customer("c1")
        await kit.send_message("c1", "promo", id="m1")
        [waiting] = await kit.messages("c1")
        assert waiting.status == "deferred"
        assert await cancel_journey(dev_server.client, registry, kit.db, "message", "c1")  # a keyed journey

        async def cancelled() -> bool:
            [row] = await kit.messages("c1")
            return row.status == "cancelled"

        await wait_until(cancelled, what="the waiting send logged as cancelled")
