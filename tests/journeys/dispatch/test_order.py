"""A customer's events reach Temporal in the order they were stored, whoever dispatches
them: batches in flight, the fresh path against the relay, retries, several processes.

Each test runs on SQLite and PostgreSQL against the real dev server. Two ``Outbox``
objects with their own owners stand for two API processes sharing one database.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from journeys.contracts.events import Event
from journeys.dispatch.outbox import Outbox
from journeys.intake.event_store import store_events
from journeys.storage.database import Database
from journeys.storage.tables import DispatchRow, utcnow
from journeys.storage.temporal import DATA_CONVERTER
from tests.conftest import free_port
from workflows.registry import Registry

QUEUE = "order-test"  # no worker polls it: the histories show what Temporal was handed


async def signals_received(client: Client, workflow_id: str) -> list[str]:
    """The event ids a journey was signalled, in the order Temporal took them."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    received = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            [payload] = event.workflow_execution_signaled_event_attributes.input.payloads
            received.append(DATA_CONVERTER.payload_converter.from_payload(payload, Event).id)
    return received


async def make_due(db: Database) -> None:
    """Skip the backoff and the fresh grace: every pending row is due now."""
    async with db.session() as session:
        await session.exec(  # type: ignore[call-overload]
            update(DispatchRow).where(col(DispatchRow.dispatched_at).is_(None)).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()


async def test_two_processes_dispatching_one_customers_events_at_once_keep_their_order(
    db: Database, dev_server: WorkflowEnvironment, journey_registry: Registry
) -> None:
    """40 customers sign up and then activate; one process dispatches the signups while
    another dispatches the activations. Every journey gets both, the signup first: an
    activation that raced ahead would reach no journey and be lost."""
    prefix = f"two-{free_port()}"
    first = Outbox(db, dev_server.client, journey_registry, QUEUE, owner="api-1")
    second = Outbox(db, dev_server.client, journey_registry, QUEUE, owner="api-2")
    signups, activations = [], []
    for n in range(40):
        customer = f"{prefix}-{n}"
        signups += (await store_events(db, [Event(id=f"{customer}-s", type="user.signed_up", customer_id=customer)])).accepted
        activations += (await store_events(db, [Event(id=f"{customer}-a", type="user.activated", customer_id=customer)])).accepted
    handed = await asyncio.gather(
        *[first.dispatch([s]) for s in signups], *[second.dispatch([a]) for a in activations]
    )
    assert sum(handed) == 80, "every event was handed over exactly once"
    for n in range(40):
        customer = f"{prefix}-{n}"
        assert await signals_received(dev_server.client, f"journey:welcome:{customer}") == [f"{customer}-s", f"{customer}-a"]
    assert await first.pending() == 0


async def test_after_temporal_was_away_the_relay_hands_over_in_storing_order(
    db: Database, dev_server: WorkflowEnvironment, journey_registry: Registry
) -> None:
    customer = f"away-{free_port()}"
    nowhere = await Client.connect(f"127.0.0.1:{free_port()}", data_converter=DATA_CONVERTER, lazy=True)
    down = Outbox(db, nowhere, journey_registry, QUEUE, owner="down")
    stored = []
    for kind in ("user.signed_up", "user.activated"):
        stored += (await store_events(db, [Event(id=f"{customer}-{kind}", type=kind, customer_id=customer)])).accepted
        assert await down.dispatch(stored[-1:]) == 0
    async with db.session() as session:
        rows = (await session.exec(select(DispatchRow).where(DispatchRow.customer_id == customer).order_by(col(DispatchRow.id)))).all()
    assert [r.attempts for r in rows] == [1, 0], "the signup waits out its backoff; the activation waits behind it, untried"
    assert rows[1].next_attempt_at >= rows[0].next_attempt_at, "and is not due before it"

    # Temporal is back; the activation's row happens to be due first: order still holds.
    await make_due(db)
    up = Outbox(db, dev_server.client, journey_registry, QUEUE, owner="up")
    assert await up.relay_once() == 1
    assert await signals_received(dev_server.client, f"journey:welcome:{customer}") == [f"{customer}-user.signed_up", f"{customer}-user.activated"]


async def test_an_event_temporal_refuses_becomes_a_dead_letter_and_the_next_one_goes(
    db: Database, dev_server: WorkflowEnvironment, journey_registry: Registry
) -> None:
    customer = f"dead-{free_port()}"
    # Intake refuses such an event now; one stored before the limit existed is still there.
    huge = Event.model_construct(
        id=f"{customer}-huge", type="user.signed_up", customer_id=customer, properties={"x": "y" * 2_500_000}, timestamp=None
    )
    later = Event(id=f"{customer}-later", type="cart.abandoned", customer_id=customer, properties={"cart_id": "k1"})
    await store_events(db, [huge])
    await store_events(db, [later])
    outbox = Outbox(db, dev_server.client, journey_registry, QUEUE, owner="one", max_attempts=3)
    for _ in range(2):
        assert await outbox.dispatch([huge]) == 0, "the later event waits behind the refused one"
        await make_due(db)
    assert await outbox.dispatch([huge]) == 1, "third refusal: set aside, and the later event goes"
    async with db.session() as session:
        dead = (await session.exec(select(DispatchRow).where(DispatchRow.event_id == huge.id))).one()
    assert dead.dead_at is not None and dead.attempts == 3 and dead.dispatched_at is None
    assert "Blob data size exceeds limit" in (dead.last_error or "")
    assert await signals_received(dev_server.client, f"journey:abandoned_cart:{customer}") == [later.id]
    assert await outbox.pending() == 0, "a dead letter is no longer waiting"


async def test_while_temporal_is_away_nothing_becomes_a_dead_letter(
    db: Database, journey_registry: Registry
) -> None:
    customer = f"patient-{free_port()}"
    nowhere = await Client.connect(f"127.0.0.1:{free_port()}", data_converter=DATA_CONVERTER, lazy=True)
    outbox = Outbox(db, nowhere, journey_registry, QUEUE, owner="patient", max_attempts=2)
    [event] = (await store_events(db, [Event(id=f"{customer}-1", type="user.signed_up", customer_id=customer)])).accepted
    for _ in range(4):
        await outbox.dispatch([event])
        await make_due(db)
    async with db.session() as session:
        row = (await session.exec(select(DispatchRow).where(DispatchRow.event_id == event.id))).one()
    assert row.attempts == 4 and row.dead_at is None, "Temporal away: retried for as long as it takes"
    assert await outbox.pending() == 1


async def test_an_event_stored_while_another_process_holds_the_claim_still_goes_at_once(
    db: Database, dev_server: WorkflowEnvironment, journey_registry: Registry
) -> None:
    """Process 1 is dispatching a customer's signup when process 2 stores their activation
    and cannot claim the customer. Process 1 looks again after giving the claim back, so
    the activation goes at once instead of waiting for the relay."""
    customer = f"held-{free_port()}"
    holder = Outbox(db, dev_server.client, journey_registry, QUEUE, owner="holder")
    other = Outbox(db, dev_server.client, journey_registry, QUEUE, owner="other")
    [signup] = (await store_events(db, [Event(id=f"{customer}-s", type="user.signed_up", customer_id=customer)])).accepted
    refused: list[int] = []
    hand_over = holder._hand_over

    async def meanwhile_process_2_stores_an_event(customers: set[str]) -> int:
        handed = await hand_over(customers)
        if not refused:
            stored = await store_events(db, [Event(id=f"{customer}-a", type="user.activated", customer_id=customer)])
            refused.append(await other.dispatch(stored.accepted))
        return handed

    holder._hand_over = meanwhile_process_2_stores_an_event  # type: ignore[method-assign]
    assert await holder.dispatch([signup]) == 2, "the activation went in the same call"
    assert refused == [0], "process 2 could not claim the customer"
    assert await signals_received(dev_server.client, f"journey:welcome:{customer}") == [signup.id, f"{customer}-a"]


async def test_a_held_event_waits_for_its_moment_and_the_customers_later_events_wait_behind_it(
    db: Database, dev_server: WorkflowEnvironment, journey_registry: Registry
) -> None:
    """A person's click is held until the scanners' burst window has passed (never tried,
    so not a backoff). The customer's next event, dispatched at once by the API that
    stored it, must not carry the held click along before its moment, nor overtake it."""
    customer = f"hold-{free_port()}"
    outbox = Outbox(db, dev_server.client, journey_registry, QUEUE, owner="api-1")
    [signup] = (await store_events(db, [Event(id=f"{customer}-s", type="user.signed_up", customer_id=customer)])).accepted
    assert await outbox.dispatch([signup]) == 1
    [click] = (await store_events(db, [Event(id=f"{customer}-c", type="email.clicked", customer_id=customer)])).accepted
    async with db.session() as session:
        await session.exec(  # type: ignore[call-overload]
            update(DispatchRow).where(col(DispatchRow.event_id) == click.id).values(not_before=utcnow() + timedelta(minutes=5))
        )
        await session.commit()
    [later] = (await store_events(db, [Event(id=f"{customer}-a", type="user.activated", customer_id=customer)])).accepted
    assert await outbox.dispatch([later]) == 0, "the held click and the event behind it wait"
    assert await outbox.relay_once() == 0
    assert await signals_received(dev_server.client, f"journey:welcome:{customer}") == [signup.id]

    async with db.session() as session:
        await session.exec(  # type: ignore[call-overload]
            update(DispatchRow).where(col(DispatchRow.customer_id) == customer)
            .values(not_before=utcnow() - timedelta(seconds=1), next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert await outbox.relay_once() == 1
    # The welcome journey does not wait on clicks: it hears the activation, and the click went first.
    assert await signals_received(dev_server.client, f"journey:welcome:{customer}") == [signup.id, later.id]
    async with db.session() as session:
        rows = (await session.exec(select(DispatchRow).where(col(DispatchRow.customer_id) == customer).order_by(col(DispatchRow.id)))).all()
    assert [r.dispatched_at is not None for r in rows] == [True, True, True]
    assert rows[1].dispatched_at <= rows[2].dispatched_at  # type: ignore[operator]
