"""Dead letters in one place: listed with what an operator needs, retried, discarded
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from journeys.contracts.events import Event
from journeys.intake.event_store import store_events
from journeys.operations import dead_letters
from journeys.operations.dead_letters import NotADeadLetter
from journeys.storage.database import Database
from journeys.storage.tables import DispatchRow, EventRow, MessageRow, utcnow
from workflows.registry import Registry


async def dead_event(db: Database, event_id: str = "big-1", customer: str = "ann", minutes_ago: int = 5) -> str:
    await store_events(db, [Event(id=event_id, type="user.signed_up", customer_id=customer)])
    at = utcnow() - timedelta(minutes=minutes_ago)
    async with db.session() as session:
        await session.exec(  # type: ignore[call-overload]
            update(DispatchRow)
            .where(col(DispatchRow.event_id) == event_id)
            .values(dead_at=at, attempts=5, last_error="RPCError: Blob data size exceeds limit.", first_attempt_at=at - timedelta(seconds=15), last_attempt_at=at)
        )
        await session.commit()
        row = (await session.exec(select(DispatchRow).where(DispatchRow.event_id == event_id))).one()
    return f"e{row.id}"


async def dead_message(db: Database, message_id: str, status: str, customer: str = "ann", minutes_ago: int = 1) -> str:
    at = utcnow() - timedelta(minutes=minutes_ago)
    async with db.session() as session:
        session.add(MessageRow(
            id=message_id, idempotency_key=f"journey:welcome:{customer}/e1/send:{message_id}", customer_id=customer,
            journey="welcome", step="send:welcome", template="welcome", to_email="ann@example.com", status=status,
            reason=f"{status} for a reason", attempts=3, history=[], context={"plan": "pro"}, if_capped="wait",
            claimed_at=at - timedelta(minutes=2), created_at=at - timedelta(minutes=2), updated_at=at,
        ))
        await session.commit()
    return f"m{message_id}"


async def test_events_and_messages_are_listed_newest_first_with_what_an_operator_needs(db: Database, journey_registry: Registry) -> None:
    event = await dead_event(db, minutes_ago=5)
    failed = await dead_message(db, "m1", "failed", minutes_ago=3)
    unknown = await dead_message(db, "m2", "unknown", minutes_ago=1)
    await dead_message(db, "m3", "sent")
    found = await dead_letters.list_dead_letters(db, journey_registry)
    assert [d.id for d in found] == [unknown, failed, event]
    letter = found[-1]
    assert (letter.kind, letter.status, letter.customer_id, letter.event_type) == ("event", "dead", "ann", "user.signed_up")
    assert letter.journeys == ["welcome"] and letter.attempts == 5 and "Blob data size" in (letter.reason or "")
    assert letter.first_try is not None and letter.last_try is not None and letter.first_try < letter.last_try
    message = found[0]
    assert (message.kind, message.status, message.step, message.template) == ("message", "unknown", "send:welcome", "welcome")
    assert await dead_letters.count_dead_letters(db) == 3


async def test_filters_by_kind_customer_journey_and_time(db: Database, journey_registry: Registry) -> None:
    event = await dead_event(db, customer="ann", minutes_ago=30)
    bob = await dead_message(db, "mb", "failed", customer="bob", minutes_ago=1)
    assert [d.id for d in await dead_letters.list_dead_letters(db, journey_registry, kind="event")] == [event]
    assert [d.id for d in await dead_letters.list_dead_letters(db, journey_registry, customer_id="bob")] == [bob]
    assert [d.id for d in await dead_letters.list_dead_letters(db, journey_registry, journey="abandoned_cart")] == []
    assert len(await dead_letters.list_dead_letters(db, journey_registry, journey="welcome")) == 2
    recent = await dead_letters.list_dead_letters(db, journey_registry, since=utcnow() - timedelta(minutes=10))
    assert [d.id for d in recent] == [bob]


async def test_a_retried_event_is_back_in_the_outbox_and_due_now(db: Database, journey_registry: Registry) -> None:
    letter_id = await dead_event(db)
    letter, to_dispatch = await dead_letters.retry(db, journey_registry, letter_id)
    assert letter.status == "retried" and [e.id for e in to_dispatch] == ["big-1"]
    async with db.session() as session:
        row = (await session.exec(select(DispatchRow))).one()
    assert row.dead_at is None and row.attempts == 0 and row.next_attempt_at <= utcnow() and row.dispatched_at is None
    assert await dead_letters.list_dead_letters(db, journey_registry) == []
    with pytest.raises(NotADeadLetter):
        await dead_letters.retry(db, journey_registry, letter_id)


async def test_a_retried_message_is_sent_again_as_a_one_off_with_its_context(db: Database, journey_registry: Registry) -> None:
    letter_id = await dead_message(db, "m9", "unknown")
    letter, to_dispatch = await dead_letters.retry(db, journey_registry, letter_id)
    assert letter.status == "retried"
    [event] = to_dispatch
    assert event.type == "journeys.message" and event.customer_id == "ann"
    assert event.properties == {"message_id": "retry-m9", "template": "welcome", "context": {"plan": "pro"}, "if_capped": "wait"}
    async with db.session() as session:
        assert (await session.get(EventRow, event.id)) is not None, "stored with its outbox row: durable"
        original = await session.get(MessageRow, "m9")
    assert original is not None and (original.status, original.resolution) == ("unknown", "retried")
    assert await dead_letters.count_dead_letters(db) == 0


async def test_discarded_letters_stay_on_record_and_leave_the_list(db: Database, journey_registry: Registry) -> None:
    event = await dead_event(db)
    message = await dead_message(db, "m5", "failed")
    assert (await dead_letters.discard(db, journey_registry, event)).status == "discarded"
    assert (await dead_letters.discard(db, journey_registry, message)).status == "discarded"
    assert await dead_letters.list_dead_letters(db, journey_registry) == []
    assert await dead_letters.count_dead_letters(db) == 0
    async with db.session() as session:
        row = await session.get(MessageRow, "m5")
    assert row is not None and row.status == "failed", "the message log still says what happened"
    for letter_id in (event, message, "m-no-such", "e999999", "x1"):
        with pytest.raises(NotADeadLetter):
            await dead_letters.discard(db, journey_registry, letter_id)
