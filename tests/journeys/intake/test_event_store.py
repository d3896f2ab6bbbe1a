"""The event store: what the API commits before it answers 202 (SQLite and PostgreSQL)."""

import asyncio

from sqlmodel import select

from journeys.storage.database import Database
from journeys.intake.event_store import store_events
from journeys.contracts.events import Event
from journeys.storage.tables import DispatchRow, EventRow


def ev(event_id: str, type: str = "user.signed_up", customer: str = "c1", **props: object) -> Event:
    return Event(id=event_id, type=type, customer_id=customer, properties=dict(props))


async def test_events_are_stored_with_a_dispatch_row_each(db: Database) -> None:
    result = await store_events(db, [ev("e1", plan="pro"), ev("e2", customer="c2")])
    assert [e.id for e in result.accepted] == ["e1", "e2"] and result.duplicate_ids == []
    async with db.session() as session:
        events = (await session.exec(select(EventRow).order_by(EventRow.id))).all()
        dispatches = (await session.exec(select(DispatchRow))).all()
    assert [(e.id, e.customer_id, e.properties) for e in events] == [("e1", "c1", {"plan": "pro"}), ("e2", "c2", {})]
    assert events[0].timestamp.tzinfo is not None, "timestamps default to receipt time, in UTC"
    assert sorted(d.event_id for d in dispatches) == ["e1", "e2"]
    assert all(d.dispatched_at is None for d in dispatches)


async def test_an_accepted_event_carries_the_time_it_was_stored_with(db: Database) -> None:
    # The accepted event itself is what goes on to Temporal: it must carry the stored time,
    # as a field that was set (a dump without unset fields, or a copy, keeps it).
    result = await store_events(db, [ev("e1")])
    accepted = result.accepted[0]
    async with db.session() as session:
        stored = await session.get(EventRow, "e1")
    assert stored is not None and accepted.timestamp is not None
    assert accepted.timestamp == stored.timestamp.replace(tzinfo=accepted.timestamp.tzinfo)
    assert accepted.model_dump(exclude_unset=True)["timestamp"] == accepted.timestamp
    assert accepted.model_copy().timestamp == accepted.timestamp


async def test_an_id_seen_before_is_a_duplicate_and_stored_once(db: Database) -> None:
    await store_events(db, [ev("e1")])
    again = await store_events(db, [ev("e1", plan="changed"), ev("e3")])
    assert [e.id for e in again.accepted] == ["e3"] and again.duplicate_ids == ["e1"]
    async with db.session() as session:
        stored = await session.get(EventRow, "e1")
    assert stored is not None and stored.properties == {}, "the first version is kept"


async def test_a_repeated_id_inside_one_batch_counts_once(db: Database) -> None:
    result = await store_events(db, [ev("e1"), ev("e1"), ev("e2")])
    assert len(result.accepted) == 2 and result.duplicate_ids == ["e1"]


async def test_concurrent_requests_with_the_same_id_store_it_once(db: Database) -> None:
    results = await asyncio.gather(*[store_events(db, [ev("same"), ev(f"own-{i}")]) for i in range(8)])
    accepted_same = sum(1 for r in results for e in r.accepted if e.id == "same")
    assert accepted_same == 1
    assert sum(len(r.duplicate_ids) for r in results) == 7


async def test_a_large_batch_is_stored_whole(db: Database) -> None:
    result = await store_events(db, [ev(f"b{i}", customer=f"c{i % 50}") for i in range(1000)])
    assert len(result.accepted) == 1000
    async with db.session() as session:
        assert len((await session.exec(select(DispatchRow.id))).all()) == 1000
