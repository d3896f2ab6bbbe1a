"""Group commit (journeys/intake/group_commit.py): requests arriving together share one
transaction, and each still gets exactly its own answer. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy.exc import DataError
from sqlmodel import col, select

from journeys.contracts.events import Event
from journeys.intake import group_commit
from journeys.intake.group_commit import GroupCommit
from journeys.storage.database import Database
from journeys.storage.tables import DispatchRow, EventRow


def _event(event_id: str, type: str = "user.signed_up") -> Event:
    return Event(id=event_id, type=type, customer_id=f"c-{event_id}")


async def _stored(db: Database, ids: list[str]) -> set[str]:
    async with db.session() as session:
        return set((await session.exec(select(EventRow.id).where(col(EventRow.id).in_(ids)))).all())


async def test_concurrent_requests_share_transactions_and_each_gets_its_own_answer(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    run = uuid.uuid4().hex[:8]
    intake = GroupCommit(db, needs_dispatch=lambda e: e.type == "user.signed_up")
    transactions = 0
    store_in = group_commit.store_in

    async def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal transactions
        transactions += 1
        return await store_in(*args, **kwargs)

    monkeypatch.setattr(group_commit, "store_in", counted)
    # 40 single-event requests, a batch, and an id carried by two requests at once.
    singles = [[_event(f"{run}-{i}", "user.signed_up" if i % 2 else "page.viewed")] for i in range(40)]
    shared = _event(f"{run}-shared")
    requests = [*singles, [_event(f"{run}-b1"), _event(f"{run}-b2"), shared], [shared, _event(f"{run}-last")]]
    results = await asyncio.gather(*[intake.store(events) for events in requests])

    for events, result in zip(singles, results[:40]):
        assert [e.id for e in result.accepted] == [events[0].id] and result.duplicate_ids == []
        assert [e.id for e in result.to_dispatch] == ([events[0].id] if events[0].type == "user.signed_up" else [])
    batch, after = results[40], results[41]
    assert [e.id for e in batch.accepted] == [f"{run}-b1", f"{run}-b2", shared.id], "the first request to carry an id wins it"
    assert [e.id for e in after.accepted] == [f"{run}-last"] and after.duplicate_ids == [shared.id]
    every = [e.id for events in requests for e in events]
    assert await _stored(db, every) == set(every)
    assert transactions < len(requests) / 2, f"{transactions} transactions for {len(requests)} requests: not grouped"
    async with db.session() as session:
        outbox = set((await session.exec(select(DispatchRow.event_id).where(col(DispatchRow.event_id).in_(every)))).all())
    assert outbox == {e.id for r in results for e in r.to_dispatch}

    again = await intake.store([_event(f"{run}-0")])
    assert again.accepted == [] and again.duplicate_ids == [f"{run}-0"], "a repeat later is a duplicate"


async def test_a_request_the_database_refuses_fails_alone_and_its_neighbours_are_stored(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = uuid.uuid4().hex[:8]
    poison = f"{run}-poison"
    store_in = group_commit.store_in

    async def refusing(session, database, events, *args, **kwargs):  # type: ignore[no-untyped-def]
        if any(e.id == poison for e in events):
            raise DataError("INSERT", {}, Exception("a value the database cannot store"))
        return await store_in(session, database, events, *args, **kwargs)

    monkeypatch.setattr(group_commit, "store_in", refusing)
    monkeypatch.setattr(group_commit, "store_events", _store_events_with(refusing))
    intake = GroupCommit(db, needs_dispatch=lambda _: False)
    requests = [[_event(f"{run}-{i}")] for i in range(10)]
    requests.insert(5, [_event(poison)])
    results = await asyncio.gather(*[intake.store(events) for events in requests], return_exceptions=True)
    failed = [events[0].id for events, result in zip(requests, results) if isinstance(result, BaseException)]
    assert failed == [poison]
    good = [f"{run}-{i}" for i in range(10)]
    assert await _stored(db, good + [poison]) == set(good)


def _store_events_with(store_in):  # type: ignore[no-untyped-def]
    """store_events (one request, its own transaction) over the given store_in."""

    async def store_events(db: Database, events: list[Event], needs_dispatch):  # type: ignore[no-untyped-def]
        async with db.session() as session:
            result = await store_in(session, db, events, needs_dispatch)
            await session.commit()
        return result

    return store_events


async def test_requests_whose_clients_go_away_leave_the_others_answered(db: Database) -> None:
    """Clients that hang up (their request cancelled while queued or while its group is
    written) cost the others nothing: every remaining request is answered, and stored."""
    run = uuid.uuid4().hex[:8]
    intake = GroupCommit(db, needs_dispatch=lambda _: False)
    tasks = [asyncio.create_task(intake.store([_event(f"{run}-{i}")])) for i in range(30)]
    await asyncio.sleep(0)  # all queued; the first is writing
    gone = tasks[0:30:4]
    for task in gone:
        task.cancel()
    done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=20)
    answered = [i for i, result in enumerate(done) if not isinstance(result, BaseException)]
    assert len(answered) >= 30 - len(gone)
    for i in answered:
        assert [e.id for e in done[i].accepted] == [f"{run}-{i}"]  # type: ignore[union-attr]
    assert await _stored(db, [f"{run}-{i}" for i in answered]) == {f"{run}-{i}" for i in answered}
    later = await asyncio.wait_for(intake.store([_event(f"{run}-after")]), timeout=10)
    assert [e.id for e in later.accepted] == [f"{run}-after"], "the queue still moves"


async def test_a_hung_up_request_at_the_head_of_the_queue_leaves_no_request_without_a_leader(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Groups hold one request each here (a cap of 3 events, requests of 2). The second
    request's client hangs up while it is queued; the requests behind it must each still be
    written and answered, the last one included (nobody is left to lead it otherwise)."""
    run = uuid.uuid4().hex[:8]
    monkeypatch.setattr(group_commit, "MAX_GROUP_EVENTS", 3)
    intake = GroupCommit(db, needs_dispatch=lambda _: False)
    requests = [[_event(f"{run}-{n}-{i}") for i in range(2)] for n in range(6)]
    tasks = [asyncio.create_task(intake.store(r)) for r in requests]
    await asyncio.sleep(0)  # every request queued, the first one's group being written
    tasks[1].cancel()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=20)
    assert isinstance(results[1], asyncio.CancelledError)
    for events, result in zip(requests[2:], results[2:]):
        assert not isinstance(result, BaseException), result
        assert [e.id for e in result.accepted] == [e.id for e in events]
