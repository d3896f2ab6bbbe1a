"""Step 2 of an event's life: store it with its outbox row, in one transaction.

Once ``store_events`` returns, the events are durable and will reach Temporal
(journeys/dispatch/outbox.py) even if Temporal or this process goes down right now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.storage.bulk_insert import insert_rows
from journeys.storage.database import Database
from journeys.contracts.events import Event
from journeys.storage.tables import DispatchRow, EventRow, utcnow

# The API dispatches fresh events itself; the relay leaves them alone for this long (and
# picks them up after it, should the API process die before dispatching).
FRESH_GRACE = timedelta(seconds=5)
_events = EventRow.__table__  # type: ignore[attr-defined]
_dispatches = DispatchRow.__table__  # type: ignore[attr-defined]
_EVENT_COLUMNS = ("id", "type", "customer_id", "properties", "timestamp", "received_at")
_NO_PROPERTIES: dict[str, object] = {}  # never changed: only read, as a row's value
_OUTBOX_COLUMNS = ("event_id", "customer_id", "next_attempt_at", "attempts", "refusals")


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
    # Events without properties share one empty object: converted to JSON once per batch.
    # In id order: two requests carrying the same ids in other orders, over several
    # statements, would otherwise wait on each other's rows (PostgreSQL: a deadlock).
    rows = sorted(
        ((e.id, e.type, e.customer_id, e.properties or _NO_PROPERTIES, e.timestamp or now, now) for e in unique.values()),
        key=lambda row: row[0],
    )
    # One statement decides what is new, atomically, even against a concurrent request
    # carrying the same ids: the unique key is the judge.
    stored = set(await insert_rows(session, _events, _EVENT_COLUMNS, rows, skip_conflicts_on="id", returning="id"))
    for event_id, event in unique.items():
        if event_id not in stored:
            result.duplicate_ids.append(event_id)
            continue
        if event.timestamp is None:
            # The request's own parsed event, given the time it was stored with (a copy per
            # event cost a tenth of a batch's time). Written as pydantic's own assignment
            # writes it without validation (the model does not validate assignments), minus
            # the lookup of a handler per call: a tenth of the store's time in a batch.
            event.__dict__["timestamp"] = now
            event.__pydantic_fields_set__.add("timestamp")
        result.accepted.append(event)
    result.to_dispatch = [e for e in result.accepted if needs_dispatch(e)]
    if result.to_dispatch:
        due = now + FRESH_GRACE
        outbox = [(e.id, e.customer_id, due, 0, 0) for e in result.to_dispatch]
        await insert_rows(session, _dispatches, _OUTBOX_COLUMNS, outbox)
    return result


def to_event(row: EventRow) -> Event:
    """The stored event, as it was accepted (not validated again: limits may have changed
    since, and what is stored must still be dispatched or set aside, never stuck)."""
    return Event.model_construct(
        id=row.id, type=row.type, customer_id=row.customer_id, properties=dict(row.properties), timestamp=row.timestamp
    )
