"""What an ESP tells us back (delivered, bounced, complained, opened, clicked) becomes events.

Each normalised webhook event (journeys/providers/*/webhook.py) is matched to our message (our id carried
as ``journeys_message_id``, else the ESP's message id in the ledger), stored in the event
store under the customer the message went to, and dispatched like any app event: a
journey can ``wait_for("email.opened")``. The event id is derived from the provider's own
event id, so a webhook delivered twice is stored once. A hard bounce suppresses the
address for all mail and a complaint for marketing, at once; the message's ledger row
gets the event in its history.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import update
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.analytics.message_facts import record_message_event
from journeys.storage.database import Database
from journeys.intake.event_store import StoreResult, store_events, store_in
from journeys.contracts.events import Event, derived_id
from journeys.consent.suppressions import suppress
from journeys.storage.tables import MessageRow, utcnow
from journeys.contracts.email_event_types import UNSUBSCRIBED
from journeys.providers.email_events import BOUNCED, COMPLAINED, EmailEvent

log = logging.getLogger("journeys.email_feedback")


async def record_email_events(db: Database, events: list[EmailEvent], registry_cares: Any) -> StoreResult:
    """Suppress, store and annotate; returns what the event store took (for dispatch)."""
    to_store: list[Event] = []
    notes: dict[str, tuple[str, dict[str, Any]]] = {}  # event id -> (message id, history entry)
    async with db.session() as session:
        for item in events:
            message = await _find_message(session, item)
            email = item.email or (message.to_email if message else None)
            if email and item.type == BOUNCED and item.bounce == "hard":
                await suppress(db, session, email, "hard_bounce", source=f"webhook:{item.provider}")
            elif email and item.type == COMPLAINED:
                await suppress(db, session, email, "complaint", source=f"webhook:{item.provider}")
            if message is None:
                log.info("%s %s from %s matches no message of ours; not stored", item.type, item.provider_event_id, item.provider)
                continue
            event = _as_event(item, message)
            to_store.append(event)
            notes[event.id] = (message.id, _history_entry(item))
            # For the figures (first of each kind per message) and the customer's timeline.
            await record_message_event(
                db, session, message, event_id=event.id, type=item.type, source=item.provider,
                occurred_at=item.occurred_at, detail=item.detail or (item.bounce and f"{item.bounce} bounce"), url=item.url,
            )
        await session.commit()
    result = await store_events(db, to_store, needs_dispatch=lambda e: bool(registry_cares(e.type)))
    if result.accepted:  # the ledger's history, once per event (a redelivered webhook adds nothing)
        async with db.session() as session:
            for event in result.accepted:
                message_id, entry = notes[event.id]
                # Appended by the database: two webhooks for one message at once keep both.
                await session.exec(  # type: ignore[call-overload]
                    update(MessageRow)
                    .where(col(MessageRow.id) == message_id)
                    .values(history=db.json_append(MessageRow.history, entry))
                    .execution_options(synchronize_session=False)
                )
            await session.commit()
    return result


async def _find_message(session: AsyncSession, item: EmailEvent) -> MessageRow | None:
    if item.message_id:
        row = await session.get(MessageRow, item.message_id)
        if row is not None:
            return row
    if item.esp_message_id:
        bare = item.esp_message_id.strip("<>")
        rows = await session.exec(
            select(MessageRow).where(or_(col(MessageRow.esp_message_id) == bare, col(MessageRow.esp_message_id) == f"<{bare}>"))
        )
        return rows.first()
    return None


def _as_event(item: EmailEvent, message: MessageRow) -> Event:
    properties: dict[str, Any] = {
        "message_id": message.id,
        "template": message.template,
        "journey": message.journey,
        "provider": item.provider,
        "email": item.email or message.to_email,
    }
    for name in ("bounce", "url", "detail"):
        value = getattr(item, name)
        if value is not None:
            properties[name] = value
    return Event(id=derived_id("esp_", item.provider, item.provider_event_id), type=item.type, customer_id=message.customer_id, properties=properties, timestamp=item.occurred_at)


def _history_entry(item: EmailEvent) -> dict[str, Any]:
    reason = " ".join(p for p in (item.bounce and f"{item.bounce} bounce", item.url, item.detail) if p) or None
    return {"at": item.occurred_at.isoformat(timespec="seconds"), "status": item.type, "reason": reason, "via": item.provider}


async def record_unsubscribe(
    db: Database, session: AsyncSession, message_id: str, topic: str, registry_cares: Any
) -> StoreResult:
    """The customer unsubscribed through the link in message ``message_id``: counted against
    that email (once), and an ``email.unsubscribed`` event for journeys. In the caller's
    transaction, which also holds the subscription change."""
    message = await session.get(MessageRow, message_id)
    if message is None:  # erased since, or a link from before messages were named
        return StoreResult()
    event = Event(
        id=derived_id("unsub_", message.id),
        type=UNSUBSCRIBED,
        customer_id=message.customer_id,
        properties={"message_id": message.id, "template": message.template, "journey": message.journey, "topic": topic},
    )
    if not await record_message_event(
        db, session, message, event_id=event.id, type=UNSUBSCRIBED, source="unsubscribe", occurred_at=utcnow(), detail=f"topic {topic}"
    ):
        return StoreResult()
    return await store_in(session, db, [event], needs_dispatch=lambda e: bool(registry_cares(e.type)))
