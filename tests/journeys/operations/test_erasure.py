"""Erasure in the database, on SQLite and PostgreSQL."""

from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from journeys.customers.profiles import upsert_customer
from journeys.contracts.customers import CustomerIn
from journeys.storage.database import Database
from journeys.operations.erasure import erase_customer
from journeys.consent.suppressions import email_hash
from journeys.intake.event_store import store_events
from journeys.contracts.events import Event
from journeys.storage.tables import CustomerRow, DispatchRow, EventRow, MessageRow, SuppressionRow, utcnow
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
        suppressed = await session.get(SuppressionRow, (email_hash("gone@example.com"), "erased"))
    assert suppressed is not None and "gone" not in suppressed.email_sha256
    assert await erase_customer(db, dev_server.client, discover(), "gone") is None
