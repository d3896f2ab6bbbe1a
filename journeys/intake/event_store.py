"""Step 2 of an event's life: store it with its outbox row, in one transaction.

Once ``store_events`` returns, the events are durable and will reach Temporal
(journeys/dispatch/outbox.py) even if Temporal or this process goes down right now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.storage.database import Database
from journeys.contracts.events import Event
from journeys.storage.tables import DispatchRow, EventRow, utcnow

# The API dispatches fresh events itself; the relay leaves them alone for this long (and
# picks them up after it, should the API process die before dispatching).
FRESH_GRACE = timedelta(seconds=5)
_events = EventRow.__table__  # type: ignore[attr-defined]
_dispatches = DispatchRow.__table__  # type: ignore[attr-defined]


@dataclass
class StoreResult:
    accepted: list[Event] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    to_dispatch: list[Event] = field(default_factory=list)  # accepted, with an outbox row


async def store_events(
    db: Database, events: list[Event], needs_dispatch: Callable[[Event], bool] = lambda _: True
) -> StoreResult:
    """Store new events, each with its outbox row if some journey cares (``needs_dispatch``),
    in one transaction; report ids seen before as duplicates."""
    async with db.session() as session:
        result = await store_in(session, db, events, needs_dispatch)
        await session.commit()
    return result


async def store_in(
    session: AsyncSession, db: Database, events: list[Event], needs_dispatch: Callable[[Event], bool] = lambda _: True
) -> StoreResult:
    """``store_events`` inside the caller's transaction (which commits it, or not at all)."""
    result = StoreResult()
    unique: dict[str, Event] = {}
    for event in events:
        if event.id in unique:
            result.duplicate_ids.append(event.id)
        else:
            unique[event.id] = event
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": e.id,
            "type": e.type,
            "customer_id": e.customer_id,
            "properties": e.properties,
            "timestamp": e.timestamp or now,
            "received_at": now,
        }
        for e in unique.values()
    ]
    # One statement decides what is new, atomically, even against a concurrent request
    # carrying the same ids: the unique key is the judge.
    stored: set[str] = set()
    for start in range(0, len(rows), 500):
        # On the tables, not the ORM entities: Core's executemany, without the ORM's bulk
        # machinery per row (a third of a batch's time in the API).
        returned = await session.exec(db.prepared(_insert_new_events), params=rows[start : start + 500])  # type: ignore[call-overload]
        stored.update(returned.scalars().all())
    for event_id, event in unique.items():
        if event_id not in stored:
            result.duplicate_ids.append(event_id)
            continue
        if event.timestamp is None:
            event = event.model_copy(update={"timestamp": now})
        result.accepted.append(event)
    result.to_dispatch = [e for e in result.accepted if needs_dispatch(e)]
    if result.to_dispatch:
        outbox = [
            {"event_id": e.id, "customer_id": e.customer_id, "next_attempt_at": now + FRESH_GRACE, "attempts": 0}
            for e in result.to_dispatch
        ]
        await session.exec(db.prepared(_insert_outbox_rows), params=outbox)  # type: ignore[call-overload]
    return result


def _insert_new_events(db: Database) -> Any:
    return db.insert(_events).on_conflict_do_nothing(index_elements=["id"]).returning(_events.c.id)


def _insert_outbox_rows(db: Database) -> Any:
    return db.insert(_dispatches)


def to_event(row: EventRow) -> Event:
    """The stored event, as it was accepted (not validated again: limits may have changed
    since, and what is stored must still be dispatched or set aside, never stuck)."""
    return Event.model_construct(
        id=row.id, type=row.type, customer_id=row.customer_id, properties=dict(row.properties), timestamp=row.timestamp
    )
