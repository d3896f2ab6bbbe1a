"""Erasure in the database, on SQLite and PostgreSQL."""

import asyncio
import importlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from journeys.analytics import runs
from journeys.analytics.report import figures
from journeys.contracts import search_attributes as sa

from journeys.customers.profiles import upsert_customer
from journeys.contracts.customers import CustomerIn
from journeys.storage.database import Database
from journeys.intake.email_feedback import record_email_events
from journeys.operations import erasure as erasure_module
from journeys.operations.erasure import erase_customer
from journeys.providers.email_events import EmailEvent
from journeys.tracking.hits import Hit, record_hit
from journeys.tracking.tokens import TrackingClaims
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
    await runs.record_entry(db, "welcome", customer, signup.id, delivery.workflow_id)  # what the run's first task records
    assert (await figures(db, "welcome", None, None, min_sample=1)).active >= 1
    active_elsewhere = (await figures(db, "welcome", None, None, min_sample=1)).active - 1
    report = await erase_customer(db, dev_server.client, registry, customer)
    assert report is not None and report.journey_runs_deleted == 1 and report.events_deleted == 1
    # Its run will never record an outcome (Temporal deleted it): it ended as cancelled, not active for ever.
    after = await figures(db, "welcome", None, None, min_sample=1)
    assert after.active == active_elsewhere and after.cancelled >= 1

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


# ----- a click or an ESP report in flight while the customer is erased -------------------------


class NoRuns:
    """A Temporal client for a customer without journeys: the race is the database's."""

    namespace = "default"

    class workflow_service:  # noqa: N801 - the client's attribute name
        @staticmethod
        async def delete_workflow_execution(request: object) -> None:
            return None

    def list_workflows(self, query: str):  # type: ignore[no-untyped-def]
        async def none():  # type: ignore[no-untyped-def]
            return
            yield

        return none()


async def _customer_with_a_sent_email(db: Database) -> None:
    sent = utcnow() - timedelta(minutes=30)
    async with db.session() as session:
        await upsert_customer(session, db, "ann", CustomerIn(email="ann@example.com"))
        session.add(MessageRow(id="m1", idempotency_key="k1", customer_id="ann", template="promo", category="marketing",
                               topic="offers", status="sent", to_email="ann@example.com", links=["https://shop.example/a"],
                               created_at=sent, updated_at=sent, claimed_at=sent, sent_at=sent))
        await session.commit()


def _pause_first_write(monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold the first open or click just before it writes its fact, until ``go_on`` is set."""
    reached, go_on = asyncio.Event(), asyncio.Event()
    for name in ("journeys.tracking.hits", "journeys.intake.engagement", "journeys.intake.email_feedback"):
        module = importlib.import_module(name)
        real = getattr(module, "record_message_event", None)
        if real is None:
            continue

        async def paused(*args: Any, real: Any = real, **kwargs: Any) -> Any:
            if not reached.is_set():
                reached.set()
                await go_on.wait()
            return await real(*args, **kwargs)

        monkeypatch.setattr(module, "record_message_event", paused)
    return reached, go_on


async def _nothing_left(db: Database) -> None:
    async with db.session() as session:
        assert (await session.exec(select(MessageEventRow))).all() == []
        assert (await session.exec(select(EventRow))).all() == [], "no event makes the erased id known again"
        assert (await session.exec(select(DispatchRow))).all() == []
        assert (await session.exec(select(MessageRow))).all() == []


def _click(db: Database) -> Awaitable[Any]:
    hit = Hit("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36", "203.0.113.7", utcnow())
    return record_hit(db, TrackingClaims("m1", "click", 0), hit, cares=lambda _: True)


def _esp_open(db: Database) -> Awaitable[Any]:
    opened = EmailEvent(provider="sendgrid", provider_event_id="sg-1", type="email.opened", email="ann@example.com",
                        message_id="m1", esp_message_id=None, occurred_at=utcnow())
    return record_email_events(db, [opened], lambda _: True)


@pytest.mark.parametrize("writer", [_click, _esp_open], ids=["tracked-click", "esp-webhook"])
async def test_a_hit_in_flight_when_the_erasure_starts_is_erased_with_the_customer(
    db: Database, monkeypatch: pytest.MonkeyPatch, writer: Callable[[Database], Awaitable[Any]]
) -> None:
    await _customer_with_a_sent_email(db)
    reached, go_on = _pause_first_write(monkeypatch)
    hit = asyncio.create_task(writer(db))
    erasure: asyncio.Task[Any] | None = None
    try:
        await asyncio.wait_for(reached.wait(), 10)  # it has read the message, and (now) holds its lock
        erasure = asyncio.create_task(erase_customer(db, NoRuns(), discover(), "ann"))  # type: ignore[arg-type]
        await asyncio.sleep(0.5)
        assert not erasure.done(), "the erasure waits for the hit to commit"
    finally:
        go_on.set()
        await asyncio.wait_for(asyncio.gather(hit, *([erasure] if erasure else []), return_exceptions=True), 30)
    report = erasure.result()
    assert report is not None and report.messages_deleted == 1
    await _nothing_left(db)


@pytest.mark.parametrize("writer", [_click, _esp_open], ids=["tracked-click", "esp-webhook"])
async def test_a_hit_arriving_while_the_erasure_deletes_finds_the_message_gone(
    db: Database, monkeypatch: pytest.MonkeyPatch, writer: Callable[[Database], Awaitable[Any]]
) -> None:
    await _customer_with_a_sent_email(db)
    deleting, go_on = asyncio.Event(), asyncio.Event()
    real_suppress = erasure_module.suppress

    async def suppress_slowly(*args: Any, **kwargs: Any) -> Any:  # inside the erasure's transaction
        deleting.set()
        await go_on.wait()
        return await real_suppress(*args, **kwargs)

    monkeypatch.setattr(erasure_module, "suppress", suppress_slowly)
    erasure = asyncio.create_task(erase_customer(db, NoRuns(), discover(), "ann"))  # type: ignore[arg-type]
    hit: asyncio.Task[Any] | None = None
    try:
        await asyncio.wait_for(deleting.wait(), 10)
        hit = asyncio.create_task(writer(db))
        await asyncio.sleep(0.5)
        assert not hit.done(), "the hit waits for the erasure"
    finally:
        go_on.set()
        await asyncio.wait_for(asyncio.gather(erasure, *([hit] if hit else []), return_exceptions=True), 30)
    assert erasure.result() is not None
    assert hit is not None and hit.exception() is None
    await _nothing_left(db)
