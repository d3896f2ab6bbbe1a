"""What an ESP tells us back (delivered, bounced, complained, opened, clicked) becomes events.

Each normalised webhook event (journeys/providers/*/webhook.py) is matched to our message (our id carried
as ``journeys_message_id``, else the ESP's message id in the ledger), recorded for the
figures and the timeline (``message_events``, id from the provider's own event id, so a
webhook delivered twice is recorded once), stored in the event store under the customer
the message went to, and dispatched like any app event: a journey can
``wait_for("email.opened")``. A hard bounce suppresses the address for all mail and a
complaint for marketing, at once; the message's ledger row gets the event in its history.

Opens and clicks are told apart from machines' as our own tracking's are, by the same
rules and with the ESP's own verdict where it gives one (SendGrid's ``sg_machine_open``,
Mailgun's ``client-info.bot``): a machine's is kept in the timeline, never counted nor
dispatched. A person's first open of a message, and first click on each link, is one
``email.opened`` / ``email.clicked`` event whoever reports it (journeys/intake/engagement.py):
a second open, or our pixel after the ESP's, stores no second event.

A batch is one transaction that locks its messages' rows first, in id order, then goes
through its suppressions in address order and its events in the order of the roll-up
counters they move: parallel batches naming the same messages wait for each other
instead of deadlocking (should PostgreSQL still find a deadlock, the batch is done
again, which changes nothing twice). A message erased meanwhile is not written to.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.analytics.message_facts import cohort_of, record_message_event
from journeys.analytics.rollup import hour_of
from journeys.storage.database import Database
from journeys.intake.engagement import ENGAGEMENT, Engagement, add_note, lock_message, lock_messages, record_engagement, retrying
from journeys.intake.event_store import StoreResult, store_in
from journeys.intake.machines import Rules, Verdict
from journeys.contracts.events import Event, derived_id
from journeys.consent.suppressions import email_hash, suppress
from journeys.storage.tables import MessageRow, utcnow
from journeys.contracts.email_event_types import UNSUBSCRIBED
from journeys.providers.email_events import BOUNCED, CLICKED, COMPLAINED, DELIVERED, OPENED, EmailEvent

log = logging.getLogger("journeys.email_feedback")

# The order a batch's events are recorded in, within one journey step and hour: the order
# of the counters they move (a click moves "clicked", then "opened").
_RANK = {DELIVERED: 0, BOUNCED: 1, COMPLAINED: 2, CLICKED: 3, OPENED: 4}


async def record_email_events(db: Database, events: list[EmailEvent], registry_cares: Any, *, rules: Rules = Rules()) -> StoreResult:
    """Suppress, record, store and annotate, in one transaction; returns what the event
    store took (``to_dispatch`` for now; a person's clicks are held for the burst window
    and go out through the relay)."""
    return await retrying(db, lambda: _record(db, events, registry_cares, rules), f"webhook batch of {len(events)} events")


async def _record(db: Database, events: list[EmailEvent], registry_cares: Any, rules: Rules) -> StoreResult:
    result = StoreResult()

    def cares(type: str) -> bool:
        return bool(registry_cares(type))

    async with db.session() as session:
        # Which message each event is about, read before anything is locked or written
        # (on SQLite the first write takes the lock, and every read after it is current).
        found = await _message_ids(session, events)
        messages = await lock_messages(db, session, [m for m in found if m is not None])
        for email, reason, provider in sorted(_suppressions(events, found, messages), key=lambda s: (email_hash(s[0]), s[1])):
            await suppress(db, session, email, reason, source=f"webhook:{provider}")
        ordered = sorted(range(len(events)), key=lambda i: _order(events[i], messages.get(found[i] or "")))
        # The history's entries are added last, each message's in time order (events are
        # recorded in the counters' order); a click withdrawn later in the batch leaves none.
        notes: list[tuple[str, datetime, int, str, dict[str, Any]]] = []
        withdrawn: set[str] = set()
        for i in ordered:
            item, message = events[i], messages.get(found[i] or "")
            if message is None:
                log.info("%s %s from %s matches no message of ours; not stored", item.type, item.provider_event_id, item.provider)
                continue
            if message.test:
                # A test send (POST /v1/templates/{name}/test-send): what the ESP reports goes in
                # its history only; no journey hears of it and no figure counts it.
                notes.append((message.id, item.occurred_at, i, derived_id("esp_", item.provider, item.provider_event_id), _history_entry(item)))
                continue
            fact_id = derived_id("esp_", item.provider, item.provider_event_id)
            if item.type in ENGAGEMENT:
                outcome = await record_engagement(db, session, message, _engagement(item, message, fact_id), cares=cares, rules=rules)
                if not outcome.new:
                    result.duplicate_ids.append(fact_id)
                elif outcome.known_event is not None:
                    result.duplicate_ids.append(outcome.known_event)
                result.accepted += outcome.stored
                result.to_dispatch += outcome.to_dispatch
                withdrawn.update(outcome.withdrawn)
                if outcome.note is not None:
                    notes.append((message.id, item.occurred_at, i, outcome.stored[0].id, outcome.note))
                continue
            # For the figures (first of each kind per message) and the customer's timeline.
            if not await record_message_event(
                db, session, message, event_id=fact_id, type=item.type, source=item.provider, occurred_at=item.occurred_at,
                detail=item.detail or (item.bounce and f"{item.bounce} bounce"), url=item.url,
            ):
                result.duplicate_ids.append(fact_id)
                continue
            stored = await store_in(session, db, [_as_event(item, message, fact_id)], needs_dispatch=lambda e: cares(e.type))
            result.accepted += stored.accepted
            result.duplicate_ids += stored.duplicate_ids
            result.to_dispatch += stored.to_dispatch
            if stored.accepted:  # the ledger's history, once per event
                notes.append((message.id, item.occurred_at, i, stored.accepted[0].id, _history_entry(item)))
        for message_id, _, _, event_id, entry in sorted(notes, key=lambda n: n[:3]):
            if event_id not in withdrawn:
                await add_note(db, session, message_id, entry)
        if withdrawn:
            result.accepted = [e for e in result.accepted if e.id not in withdrawn]
            result.to_dispatch = [e for e in result.to_dispatch if e.id not in withdrawn]
        await session.commit()
    return result


async def _message_ids(session: AsyncSession, events: list[EmailEvent]) -> list[str | None]:
    """Each event's message id: ours if the ledger has it, else the message with the ESP's id."""
    ours = {item.message_id for item in events if item.message_id}
    known: set[str] = set()
    if ours:
        rows = await session.exec(select(MessageRow.id).where(col(MessageRow.id).in_(sorted(ours))))
        known = set(rows.all())
    by_esp: dict[str, str | None] = {}
    found: list[str | None] = []
    for item in events:
        if item.message_id in known:
            found.append(item.message_id)
            continue
        if not item.esp_message_id:
            found.append(None)
            continue
        bare = item.esp_message_id.strip("<>")
        if bare not in by_esp:
            rows = await session.exec(
                select(MessageRow.id).where(or_(col(MessageRow.esp_message_id) == bare, col(MessageRow.esp_message_id) == f"<{bare}>"))
            )
            by_esp[bare] = rows.first()
        found.append(by_esp[bare])
    return found


def _suppressions(
    events: list[EmailEvent], found: list[str | None], messages: dict[str, MessageRow]
) -> list[tuple[str, Any, str]]:
    """(address, reason, provider) for each hard bounce and complaint, message or not."""
    wanted: list[tuple[str, Any, str]] = []
    for item, message_id in zip(events, found):
        message = messages.get(message_id or "")
        email = item.email or (message.to_email if message else None)
        if email and item.type == BOUNCED and item.bounce == "hard":
            wanted.append((email, "hard_bounce", item.provider))
        elif email and item.type == COMPLAINED:
            wanted.append((email, "complaint", item.provider))
    return wanted


def _order(item: EmailEvent, message: MessageRow | None) -> tuple[str, str, datetime, int, str, datetime, str]:
    """Events in the order of the roll-up counters they move: (journey, step, hour), then type."""
    if message is None:
        return ("", "", item.occurred_at, 0, "", item.occurred_at, item.provider_event_id)
    return (
        message.journey or "", message.step or "", hour_of(cohort_of(message)), _RANK.get(item.type, 9), message.id,
        item.occurred_at, item.provider_event_id,
    )


def _engagement(item: EmailEvent, message: MessageRow, fact_id: str) -> Engagement:
    flagged: Verdict | None = None
    if item.machine in ("proxy", "scanner"):
        flagged = (item.machine, item.detail or f"a machine, as {item.provider} says")  # type: ignore[assignment]
    properties = _properties(item, message)
    if item.url is not None:
        properties["url"] = item.url
    return Engagement(
        type=item.type, source=item.provider, fact_id=fact_id, at=item.occurred_at, user_agent=item.user_agent,
        address=item.address, flagged=flagged, url=item.url if item.type == CLICKED else None, properties=properties,
    )


def _properties(item: EmailEvent, message: MessageRow) -> dict[str, Any]:
    return {
        "message_id": message.id,
        "template": message.template,
        "journey": message.journey,
        "provider": item.provider,
        "email": item.email or message.to_email,
    }


def _as_event(item: EmailEvent, message: MessageRow, event_id: str) -> Event:
    properties = _properties(item, message)
    for name in ("bounce", "url", "detail"):
        value = getattr(item, name)
        if value is not None:
            properties[name] = value
    return Event(id=event_id, type=item.type, customer_id=message.customer_id, properties=properties, timestamp=item.occurred_at)


def _history_entry(item: EmailEvent) -> dict[str, Any]:
    reason = " ".join(p for p in (item.bounce and f"{item.bounce} bounce", item.url, item.detail) if p) or None
    return {"at": item.occurred_at.isoformat(timespec="seconds"), "status": item.type, "reason": reason, "via": item.provider}


async def record_unsubscribe(
    db: Database, session: AsyncSession, message_id: str, topic: str, registry_cares: Any
) -> StoreResult:
    """The customer unsubscribed through the link in message ``message_id``: counted against
    that email (once), and an ``email.unsubscribed`` event for journeys. In the caller's
    transaction, which also holds the subscription change."""
    message = await lock_message(db, session, message_id)  # as hits and webhooks: an erasure waits, or wins
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
