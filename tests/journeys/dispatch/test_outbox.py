"""Dispatch through the outbox: Temporal down means delayed, never lost.

Runs against the real dev server: a workflow that no worker picks up would freeze the
time-skipping server's clock for the journey tests.
"""

from datetime import timedelta

from sqlmodel import select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from journeys.storage.database import Database
from journeys.intake.event_store import store_events
from journeys.contracts.events import Event
from journeys.dispatch.outbox import Outbox
from journeys.storage.tables import DispatchRow, utcnow
from journeys.storage.temporal import DATA_CONVERTER
from tests.conftest import free_port
from workflows.registry import Registry


async def _rows(db: Database) -> list[DispatchRow]:
    async with db.session() as session:
        return list((await session.exec(select(DispatchRow).order_by(DispatchRow.event_id))).all())


async def test_events_wait_in_the_outbox_while_temporal_is_away_then_reach_it(
    db: Database, dev_server: WorkflowEnvironment, journey_registry: Registry
) -> None:
    customer = f"outbox-{free_port()}"
    event = Event(id=f"{customer}-1", type="user.signed_up", customer_id=customer)
    stored = await store_events(db, [event])

    nowhere = await Client.connect(f"127.0.0.1:{free_port()}", data_converter=DATA_CONVERTER, lazy=True)
    down = Outbox(db, nowhere, journey_registry, "outbox-test")
    assert await down.dispatch(stored.accepted) == 0
    [row] = await _rows(db)
    assert row.dispatched_at is None and row.attempts == 1 and row.last_error
    assert row.next_attempt_at > utcnow(), "retried later, with backoff"
    assert await down.pending() == 1

    # Temporal is back: the relay picks up the row once it is due.
    async with db.session() as session:
        row.next_attempt_at = utcnow() - timedelta(seconds=1)
        session.add(row)
        await session.commit()
    up = Outbox(db, dev_server.client, journey_registry, "outbox-test")
    assert await up.relay_once() == 1
    [row] = await _rows(db)
    assert row.dispatched_at is not None
    assert await up.pending() == 0
    handle = dev_server.client.get_workflow_handle(f"journey:welcome:{customer}")
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    await handle.terminate("test done")


async def test_the_relay_leaves_fresh_events_to_the_api_that_stored_them(
    db: Database, dev_server: WorkflowEnvironment, journey_registry: Registry
) -> None:
    await store_events(db, [Event(id="fresh", type="user.signed_up", customer_id="fresh-customer")])
    relay = Outbox(db, dev_server.client, journey_registry, "outbox-test")
    assert await relay.relay_once() == 0
    assert await relay.pending() == 1


async def test_one_customers_events_in_one_batch_reach_temporal_in_order(
    db: Database, dev_server: WorkflowEnvironment, journey_registry: Registry
) -> None:
    """A cart abandoned and the order placed a moment later: the order must reach the
    journey the cart started, never race ahead of its start and be lost."""
    from temporalio.api.enums.v1 import EventType

    prefix = f"order-{free_port()}"
    events = []
    for n in range(15):
        events += [
            Event(id=f"{prefix}-{n}-cart", type="cart.abandoned", customer_id=f"{prefix}-{n}", properties={"items": []}),
            Event(id=f"{prefix}-{n}-order", type="order.placed", customer_id=f"{prefix}-{n}"),
        ]
    stored = await store_events(db, events)
    outbox = Outbox(db, dev_server.client, journey_registry, "outbox-order-test")
    assert await outbox.dispatch(stored.to_dispatch) == len(events)
    for n in range(15):
        handle = dev_server.client.get_workflow_handle(f"journey:abandoned_cart:{prefix}-{n}")
        history = await handle.fetch_history()
        signals = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
        assert len(signals) == 2, f"customer {n}: the order did not reach the journey"
        await handle.terminate("test done")
