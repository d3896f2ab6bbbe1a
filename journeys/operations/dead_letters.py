"""Dead letters in one place: events that could not be handed to Temporal, and messages that
failed or may have gone out (``unknown``), each with its reason, attempts, first and last
try, customer, journey and step; an operator retries or discards each one.

* An event is a dead letter when Temporal refused it ``JOURNEYS_DISPATCH_MAX_ATTEMPTS``
  times (journeys/dispatch/failures.py). Retry puts it back in the outbox as it was;
  it is dispatched at once (and, failing again, comes back here).
* A message is a dead letter when its send ``failed`` after its retries, or is
  ``unknown`` (it may have reached the ESP). Retry sends it again as a one-off
  (``POST /v1/customers/{id}/messages`` does the same), through the send policy, with the
  context the journey gave it: for ``unknown`` that is the operator's call that it did
  not go out. The original row records that it was retried, and by which send.

Ids say what they are: ``e<outbox row id>`` for events, ``m<message id>`` for messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.contracts.events import Event
from journeys.contracts.journey_spec import JourneyRoutes
from journeys.contracts.one_off_messages import OneOffMessageIn, message_event
from journeys.intake.event_store import StoreResult, store_in
from journeys.storage.database import Database
from journeys.storage.tables import DispatchRow, EventRow, MessageRow, utcnow

Kind = Literal["event", "message"]
DEAD_MESSAGE = ("failed", "unknown")


class DeadLetter(BaseModel):
    id: str
    kind: Kind
    status: str  # dead (an event), failed or unknown (a message); discarded or retried once resolved
    reason: str | None
    attempts: int
    first_try: datetime | None
    last_try: datetime | None
    customer_id: str
    journeys: list[str]  # the journey of a message; the journeys an event was for
    step: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    template: str | None = None


class NotADeadLetter(LookupError):
    """No unresolved dead letter has this id."""


class CannotRetry(ValueError):
    """The dead letter cannot be sent again as it is (its context no longer passes intake)."""


async def list_dead_letters(
    db: Database,
    routes: JourneyRoutes,
    *,
    kind: Kind | None = None,
    customer_id: str | None = None,
    journey: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[DeadLetter]:
    """Unresolved dead letters, the most recent last try first."""
    found: list[DeadLetter] = []
    async with db.report_session() as session:
        if kind in (None, "event"):
            events = (
                select(DispatchRow, EventRow)
                .join(EventRow, col(EventRow.id) == col(DispatchRow.event_id))
                .where(col(DispatchRow.dead_at).is_not(None), col(DispatchRow.resolution).is_(None))
            )
            if customer_id is not None:
                events = events.where(col(DispatchRow.customer_id) == customer_id)
            if since is not None:
                events = events.where(col(DispatchRow.last_attempt_at) >= since)
            if until is not None:
                events = events.where(col(DispatchRow.last_attempt_at) <= until)
            dead_events = (await session.exec(events.order_by(col(DispatchRow.last_attempt_at).desc()).limit(limit))).all()
            found += [_event_letter(row, event, routes) for row, event in dead_events]
        if kind in (None, "message"):
            messages = select(MessageRow).where(col(MessageRow.status).in_(DEAD_MESSAGE), col(MessageRow.resolution).is_(None))
            if customer_id is not None:
                messages = messages.where(col(MessageRow.customer_id) == customer_id)
            if journey is not None:
                messages = messages.where(col(MessageRow.journey) == journey)
            if since is not None:
                messages = messages.where(col(MessageRow.updated_at) >= since)
            if until is not None:
                messages = messages.where(col(MessageRow.updated_at) <= until)
            dead_messages = (await session.exec(messages.order_by(col(MessageRow.updated_at).desc()).limit(limit))).all()
            found += [_message_letter(row) for row in dead_messages]
    if journey is not None:
        found = [letter for letter in found if journey in letter.journeys]
    found.sort(key=lambda letter: letter.last_try or datetime.min.replace(tzinfo=utcnow().tzinfo), reverse=True)
    return found[:limit]


async def count_dead_letters(db: Database) -> int:
    async with db.report_session() as session:
        events = select(func.count()).select_from(DispatchRow).where(
            col(DispatchRow.dead_at).is_not(None), col(DispatchRow.resolution).is_(None)
        )
        messages = select(func.count()).select_from(MessageRow).where(
            col(MessageRow.status).in_(DEAD_MESSAGE), col(MessageRow.resolution).is_(None)
        )
        return int((await session.exec(events)).one()) + int((await session.exec(messages)).one())


async def retry(db: Database, routes: JourneyRoutes, letter_id: str) -> tuple[DeadLetter, list[Event]]:
    """Retry one dead letter; returns it and the events to dispatch now (the API submits them)."""
    now = utcnow()
    if _is_event(letter_id):
        row, event = await _resolve_event(
            db, letter_id, dead_at=None, attempts=0, refusals=0, next_attempt_at=now, resolution="retried", resolved_at=now
        )
        again = Event.model_construct(
            id=event.id, type=event.type, customer_id=event.customer_id, properties=event.properties, timestamp=event.timestamp
        )
        return _event_letter(row, event, routes), [again]
    async with db.session() as session:
        found = await session.get(MessageRow, letter_id[1:]) if letter_id.startswith("m") else None
        if found is None or found.status not in DEAD_MESSAGE or found.resolution is not None:
            raise NotADeadLetter(letter_id)
        try:  # built first: a message that cannot be sent again stays a dead letter
            body = OneOffMessageIn(
                id=f"retry-{found.id}", template=found.template, context=found.context or {}, if_capped=found.if_capped or "skip"
            )
            again = message_event(found.customer_id, body)
        except ValidationError as exc:
            raise CannotRetry(f"{letter_id} cannot be sent again as it is: {exc.errors(include_url=False)[0]['msg']}") from None
        # The resolution and the new send, in one transaction.
        message = await _claim_message(session, letter_id, "retried")
        stored: StoreResult = await store_in(session, db, [again], needs_dispatch=lambda _: True)
        await session.commit()
    return _message_letter(message), stored.to_dispatch


async def discard(db: Database, routes: JourneyRoutes, letter_id: str) -> DeadLetter:
    """Set a dead letter aside for good: it stays on record, no longer listed or counted."""
    if _is_event(letter_id):
        row, event = await _resolve_event(db, letter_id, resolution="discarded", resolved_at=utcnow())
        return _event_letter(row, event, routes)
    async with db.session() as session:
        message = await _claim_message(session, letter_id, "discarded")
        await session.commit()
    return _message_letter(message)


_BIGINT_MAX = 2**63 - 1  # the outbox's id column; a larger number names no row


def _is_event(letter_id: str) -> bool:
    # ASCII digits only (str.isdigit and int() also take other scripts' digits), and
    # within the column's range: a database asked for a larger number raises, not "none".
    digits = letter_id[1:]
    return letter_id.startswith("e") and digits.isascii() and digits.isdigit() and int(digits) <= _BIGINT_MAX


async def _resolve_event(db: Database, letter_id: str, **values: object) -> tuple[DispatchRow, EventRow]:
    """Change an unresolved dead event (compare-and-set) and read it back."""
    async with db.session() as session:
        changed = await session.exec(  # type: ignore[call-overload]
            update(DispatchRow)
            .where(
                col(DispatchRow.id) == int(letter_id[1:]),
                col(DispatchRow.dead_at).is_not(None),
                col(DispatchRow.resolution).is_(None),
            )
            .values(**values)
            .returning(col(DispatchRow.id))
            .execution_options(synchronize_session=False)
        )
        if changed.scalar_one_or_none() is None:
            raise NotADeadLetter(letter_id)
        await session.commit()
        joined = select(DispatchRow, EventRow).join(EventRow, col(EventRow.id) == col(DispatchRow.event_id))
        row, event = (await session.exec(joined.where(col(DispatchRow.id) == int(letter_id[1:])))).one()
        return row, event


async def _claim_message(session: AsyncSession, letter_id: str, resolution: str) -> MessageRow:
    """Resolve an unresolved dead message (compare-and-set); the caller commits."""
    if not letter_id.startswith("m") or len(letter_id) < 2:
        raise NotADeadLetter(letter_id)
    now = utcnow()
    done = await session.exec(  # type: ignore[call-overload]
        update(MessageRow)
        .where(col(MessageRow.id) == letter_id[1:], col(MessageRow.status).in_(DEAD_MESSAGE), col(MessageRow.resolution).is_(None))
        .values(resolution=resolution, resolved_at=now, updated_at=now)
        .returning(col(MessageRow.id))
        .execution_options(synchronize_session=False)
    )
    if done.scalar_one_or_none() is None:
        raise NotADeadLetter(letter_id)
    row = await session.get(MessageRow, letter_id[1:], populate_existing=True)
    assert row is not None
    return row


def _event_letter(row: DispatchRow, event: EventRow, routes: JourneyRoutes) -> DeadLetter:
    route = routes.route(event.type)
    return DeadLetter(
        id=f"e{row.id}",
        kind="event",
        status="dead" if row.resolution is None else row.resolution,
        reason=row.last_error,
        attempts=row.attempts,
        first_try=row.first_attempt_at,
        last_try=row.last_attempt_at,
        customer_id=row.customer_id,
        journeys=sorted({spec.name for spec in (*route.starts, *route.signals)}),
        event_id=event.id,
        event_type=event.type,
    )


def _message_letter(row: MessageRow) -> DeadLetter:
    return DeadLetter(
        id=f"m{row.id}",
        kind="message",
        status=row.status if row.resolution is None else row.resolution,
        reason=row.reason,
        attempts=row.attempts,
        first_try=row.claimed_at or row.created_at,
        last_try=row.updated_at,
        customer_id=row.customer_id,
        journeys=[row.journey] if row.journey else [],
        step=row.step,
        template=row.template,
    )
