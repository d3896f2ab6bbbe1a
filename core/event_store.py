"""Step 2 of an event's life: store it with its outbox row, in one transaction.

Once ``store_events`` returns, the events are durable and will reach Temporal
(core/outbox.py) even if Temporal or this process goes down right now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from core.database import Database
from core.events import Event
from core.tables import DispatchRow, EventRow, utcnow

# The API dispatches fresh events itself; the relay leaves them alone for this long.
DISPATCH_LEASE = timedelta(seconds=15)


@dataclass
class StoreResult:
    accepted: list[Event] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)


async def store_events(db: Database, events: list[Event]) -> StoreResult:
    """Store new events (and their dispatch rows); report ids seen before as duplicates."""
    for attempt in range(3):
        try:
            return await _store_once(db, events)
        except IntegrityError:
            # A concurrent request stored one of these ids between our check and our
            # insert; the next attempt sees it and reports it as a duplicate.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _store_once(db: Database, events: list[Event]) -> StoreResult:
    result = StoreResult()
    unique: dict[str, Event] = {}
    for event in events:
        if event.id in unique:
            result.duplicate_ids.append(event.id)
        else:
            unique[event.id] = event
    now = utcnow()
    async with db.session() as session:
        existing: set[str] = set()
        ids = list(unique)
        for start in range(0, len(ids), 500):  # stay under SQL parameter limits
            chunk = ids[start : start + 500]
            rows = await session.exec(select(EventRow.id).where(col(EventRow.id).in_(chunk)))
            existing.update(rows.all())
        for event_id, event in unique.items():
            if event_id in existing:
                result.duplicate_ids.append(event_id)
                continue
            if event.timestamp is None:
                event = event.model_copy(update={"timestamp": now})
            session.add(
                EventRow(
                    id=event.id,
                    type=event.type,
                    customer_id=event.customer_id,
                    properties=event.properties,
                    timestamp=event.timestamp,
                    received_at=now,
                )
            )
            result.accepted.append(event)
        await session.flush()  # events before their dispatch rows (foreign key)
        for event in result.accepted:
            session.add(DispatchRow(event_id=event.id, next_attempt_at=now + DISPATCH_LEASE))
        await session.commit()
    return result


def to_event(row: EventRow) -> Event:
    return Event(
        id=row.id, type=row.type, customer_id=row.customer_id, properties=dict(row.properties), timestamp=row.timestamp
    )
