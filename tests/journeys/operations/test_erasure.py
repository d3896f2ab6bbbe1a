"""Erasure in the database, on SQLite and PostgreSQL."""

import uuid

import pytest
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from journeys.contracts import search_attributes as sa

from journeys.customers.profiles import upsert_customer
from journeys.contracts.customers import CustomerIn
from journeys.storage.database import Database
from journeys.operations.erasure import erase_customer
from journeys.consent.suppressions import email_hash
from journeys.intake.event_store import store_events
from journeys.contracts.events import Event
from journeys.storage.analytics_tables import JourneyRunRow, MessageEventRow
from journeys.storage.tables import CustomerRow, DispatchClaimRow, DispatchRow, EventRow, MessageRow, SuppressionRow, utcnow
from workflows.registry import discover


async def test_erasure_removes_personal_rows_and_suppresses_the_hashed_address(
    db: Database, dev_server: WorkflowEnvironment
) -> None:
    async with db.session() as session:
        await upsert_customer(session, db, "gone", CustomerIn(email="Gone@Example.com"))
        await upsert_customer(session, db, "stays", CustomerIn(email="stays@example.com"))
        now = utcnow()
        session.add(MessageRow(id="m1", idempotency_key="k1", customer_id="gone", template="welcome", status="sent",
                               to_email="Gone@Example.com", created_at=now, updated_at=now))
        # What analytics kept: a click on their email (with the URL) and their journey runs.
        for who in ("gone", "stays"):
            session.add(MessageEventRow(id=f"hit-{who}", message_id="m1", customer_id=who, type="email.clicked",
                                        source="tracking", url=f"https://shop.example/{who}", occurred_at=now))
            session.add(JourneyRunRow(journey="welcome", customer_id=who, entry_id=f"e-{who}",
                                      workflow_id=f"journey:welcome:{who}", entered_at=now))
        await session.commit()
    await store_events(db, [Event(id="e1", type="user.signed_up", customer_id="gone"),
                            Event(id="e2", type="user.signed_up", customer_id="stays")])

    report = await erase_customer(db, dev_server.client, discover(), "gone")
    assert report is not None and report.events_deleted == 1 and report.messages_deleted == 1

    async with db.session() as session:
        assert await session.get(CustomerRow, "gone") is None
        assert await session.get(CustomerRow, "stays") is not None
        assert [e.id for e in (await session.exec(select(EventRow))).all()] == ["e2"]
        assert [d.event_id for d in (await session.exec(select(DispatchRow))).all()] == ["e2"]
        assert (await session.exec(select(MessageRow))).all() == []
        assert [e.id for e in (await session.exec(select(MessageEventRow))).all()] == ["hit-stays"]
        assert [r.customer_id for r in (await session.exec(select(JourneyRunRow))).all()] == ["stays"]
        suppressed = await session.get(SuppressionRow, (email_hash("gone@example.com"), "erased"))
    assert suppressed is not None and "gone" not in suppressed.email_sha256
    assert await erase_customer(db, dev_server.client, discover(), "gone") is None


async def test_a_customer_whose_id_has_quotes_is_erased_with_their_running_journey(
    db: Database, dev_server: WorkflowEnvironment
) -> None:
    """Visibility queries cannot match such ids; the runs are found by the CustomerKey hash."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    from journeys.dispatch.dispatcher import Dispatcher
    from tests.conftest import wait_until

    customer = f'o"k\'\\x-{uuid.uuid4().hex[:6]}'
    registry = discover()
    async with db.session() as session:
        await upsert_customer(session, db, customer, CustomerIn(email="quoted@example.com"))
    [signup] = (await store_events(db, [Event(id=f"{uuid.uuid4().hex}", type="user.signed_up", customer_id=customer)])).accepted
    [delivery] = await Dispatcher(dev_server.client, registry, db, "erasure-test").dispatch(signup)
    handle = dev_server.client.get_workflow_handle(delivery.workflow_id)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

    async def indexed() -> bool:  # visibility is eventually consistent
        return [e async for e in dev_server.client.list_workflows(f'CustomerKey = "{sa.customer_key(customer)}"')] != []

    await wait_until(indexed, what="the run in Temporal's visibility")
    report = await erase_customer(db, dev_server.client, registry, customer)
    assert report is not None and report.journey_runs_deleted == 1 and report.events_deleted == 1

    async def run_gone() -> bool:
        try:
            return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING
        except RPCError:
            return True

    await wait_until(run_gone, what="the journey stopped and deleted")
    async with db.session() as session:
        assert await session.get(CustomerRow, customer) is None


async def test_with_temporal_away_erasure_changes_nothing(db: Database) -> None:
    from temporalio.client import Client

    from journeys.operations.erasure import TemporalUnavailable
    from journeys.storage.temporal import DATA_CONVERTER
    from tests.conftest import free_port

    async with db.session() as session:
        await upsert_customer(session, db, "kept", CustomerIn(email="kept@example.com"))
    await store_events(db, [Event(id="k1", type="user.signed_up", customer_id="kept")])
    nowhere = await Client.connect(f"127.0.0.1:{free_port()}", data_converter=DATA_CONVERTER, lazy=True)
    with pytest.raises(TemporalUnavailable):
        await erase_customer(db, nowhere, discover(), "kept")
    async with db.session() as session:
        assert await session.get(CustomerRow, "kept") is not None
        assert [e.id for e in (await session.exec(select(EventRow))).all()] == ["k1"]
        assert (await session.exec(select(DispatchClaimRow))).all() == [], "the claims were given back"
