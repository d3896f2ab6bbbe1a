"""Send-level facts: a message's final status, and what happened to it afterwards.

A final status (sent, or the decision not to send: suppressed, capped, ...) is counted
once, when the ledger moves the row there. An email event is stored once (its id comes
from its source), and the first one of each kind a person made (not a link scanner, not
an image proxy) stamps the message (``opened_at``, ...) and counts: figures are unique
per message and human. A click is an open too (the person read the email, whether or
not their client loaded the pixel).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.analytics.rollup import bump, variants_of
from journeys.contracts.email_event_types import BOUNCED, CLICKED, COMPLAINED, DELIVERED, OPENED, UNSUBSCRIBED
from journeys.storage.analytics_tables import MessageEventRow
from journeys.storage.database import Database
from journeys.storage.tables import MessageRow

SENT = "sent"
# The message column stamped by the first human event of each type, and its metric.
FIRST = {
    DELIVERED: ("delivered_at", "delivered"),
    OPENED: ("opened_at", "opened"),
    CLICKED: ("clicked_at", "clicked"),
    BOUNCED: ("bounced_at", "bounced"),
    COMPLAINED: ("complained_at", "complained"),
    UNSUBSCRIBED: ("unsubscribed_at", "unsubscribed"),
}


def decision(status: str) -> str:
    """The metric of a step that ended without sending (suppressed, capped, failed, ...)."""
    return f"decision:{status}"


class MessageFacts(Protocol):
    id: str
    journey: str | None
    step: str | None
    customer_id: str
    entry_id: str | None
    created_at: datetime
    counted_at: datetime | None


def cohort_of(message: MessageFacts) -> datetime:
    """The time a message's figures count at: when it reached its final status (a send
    deferred overnight counts in the morning it went out); rows from before that was
    recorded, when they were first decided."""
    return message.counted_at or message.created_at


async def count_final(
    db: Database, session: AsyncSession, message: MessageFacts, status: str, at: datetime,
    variants: Mapping[str, str] | None = None,
) -> None:
    """The step reached ``status`` for good at ``at`` (the caller stores it as the row's
    ``counted_at``, in the same transaction). ``variants``: the entry's, if the caller
    knows them (else read). Does not commit."""
    if variants is None:
        variants = await variants_of(session, message.journey, message.entry_id)
    await bump(
        db, session, journey=message.journey or "", step=message.step or "", at=at,
        metric=SENT if status == "sent" else decision(status), variants=variants,
    )


async def record_message_event(
    db: Database,
    session: AsyncSession,
    message: MessageFacts,
    *,
    event_id: str,
    type: str,
    source: str,
    occurred_at: datetime,
    machine: str | None = None,
    detail: str | None = None,
    url: str | None = None,
) -> bool:
    """Store the event (False if it was stored before) and count it if it is the first
    of its kind a person made for this message. Does not commit."""
    inserted = await session.exec(  # type: ignore[call-overload]
        db.insert(MessageEventRow)
        .values(
            id=event_id, message_id=message.id, customer_id=message.customer_id, type=type, source=source,
            machine=machine, detail=detail, url=url, occurred_at=occurred_at,
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(col(MessageEventRow.id))
    )
    if inserted.first() is None:
        return False
    if machine is None and type in FIRST:
        await _first(db, session, message, type, occurred_at)
        if type == CLICKED:
            await _first(db, session, message, OPENED, occurred_at)
    return True


async def _first(db: Database, session: AsyncSession, message: MessageFacts, type: str, at: datetime) -> None:
    column_name, metric = FIRST[type]
    column: Any = getattr(MessageRow, column_name)
    stamped = await session.exec(  # type: ignore[call-overload]
        update(MessageRow)
        .where(col(MessageRow.id) == message.id, column.is_(None))
        .values({column_name: at})
        .returning(col(MessageRow.id))
        .execution_options(synchronize_session=False)
    )
    if stamped.first() is not None:
        variants = await variants_of(session, message.journey, message.entry_id)
        await bump(db, session, journey=message.journey or "", step=message.step or "", at=cohort_of(message), metric=metric, variants=variants)
