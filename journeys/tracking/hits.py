"""A tracking hit, recorded: every hit for the timeline, the first human one as an event.

Every hit (a person's or a machine's) is a ``message_events`` row of its own
(journeys/analytics/message_facts.py), with the machine and why, so repeated opens and
scanner traffic are all visible; its id is derived from the message, the kind, the link
and the hit itself (time in milliseconds, user agent, address), so only a request
repeated in the same millisecond by the same client is the same hit.

The first hit a person makes per message, kind and link is also stored as an event
(``email.clicked`` with the URL, or ``email.opened``) under the message's customer, in
the same transaction, with an id derived from (message, kind, link): a second click
stores no second event. The caller dispatches ``to_dispatch`` on the durable path ESP
webhooks take (the outbox row is written with the event). Machine hits are never
dispatched: a journey waiting for a click must not be woken by a link scanner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.analytics.message_facts import record_message_event
from journeys.contracts.email_event_types import CLICKED, OPENED
from journeys.contracts.events import Event, derived_id
from journeys.intake.event_store import store_in
from journeys.storage.analytics_tables import MessageEventRow
from journeys.storage.database import Database
from journeys.storage.tables import MessageRow
from journeys.tracking.machines import EarlierClick, Rules, Verdict, classify_click, classify_open
from journeys.tracking.tokens import TrackingClaims

log = logging.getLogger("journeys.tracking")

SOURCE = "tracking"


@dataclass(frozen=True)
class Hit:
    """What the request carried."""

    user_agent: str
    address: str | None
    at: datetime


@dataclass
class Recorded:
    url: str | None  # a click's destination
    verdict: Verdict | None  # None: a person
    first: bool  # stored as the journey event just now
    to_dispatch: list[Event] = field(default_factory=list)


async def record_hit(
    db: Database, claims: TrackingClaims, hit: Hit, *, cares: Callable[[str], Any], rules: Rules = Rules()
) -> Recorded | None:
    """Record the hit; None (nothing recorded) when the message is not ours (any more) or
    has no link at the token's position."""
    async with db.session() as session:
        message = await session.get(MessageRow, claims.message_id)
        if message is None:
            return None
        url: str | None = None
        if claims.kind == "click":
            links = message.links or []
            index = claims.link_index
            if index is None or index >= len(links) or not isinstance(links[index], str):
                return None
            url = links[index]
            earlier = await _earlier_clicks(session, message.id, hit.at - rules.burst_window)
            # Not recorded as sent yet (the ESP has it a moment before the ledger does):
            # the claim is when sending began.
            verdict = classify_click(
                hit.user_agent, hit.address, url=url, sent_at=message.sent_at or message.claimed_at,
                now=hit.at, earlier=earlier, rules=rules,
            )
        else:
            verdict = classify_open(hit.user_agent, hit.address)
        kind, link = claims.kind, "" if claims.link_index is None else str(claims.link_index)
        event_type = CLICKED if kind == "click" else OPENED
        nonce = (str(int(hit.at.timestamp() * 1000)), hit.user_agent, hit.address or "")
        await record_message_event(
            db, session, message, event_id=derived_id("trh_", message.id, kind, link, *nonce), type=event_type,
            source=SOURCE, occurred_at=hit.at, machine=verdict[0] if verdict else None,
            detail=verdict[1] if verdict else None, url=url,
        )
        recorded = Recorded(url=url, verdict=verdict, first=False)
        if verdict is None:
            event = _as_event(message, event_type, kind, link, url, hit.at)
            stored = await store_in(session, db, [event], needs_dispatch=lambda e: bool(cares(e.type)))
            if stored.accepted:
                recorded.first, recorded.to_dispatch = True, stored.to_dispatch
                await _note(db, session, message.id, event_type, url, hit.at)
        await session.commit()
    return recorded


async def _earlier_clicks(session: AsyncSession, message_id: str, since: datetime) -> list[EarlierClick]:
    rows = await session.exec(
        select(MessageEventRow.occurred_at, MessageEventRow.url).where(
            col(MessageEventRow.message_id) == message_id,
            col(MessageEventRow.type) == CLICKED,
            col(MessageEventRow.source) == SOURCE,
            col(MessageEventRow.occurred_at) >= since,
        )
    )
    return [EarlierClick(at=at, url=url or "") for at, url in rows.all()]


def _as_event(message: MessageRow, event_type: str, kind: str, link: str, url: str | None, at: datetime) -> Event:
    properties: dict[str, Any] = {
        "message_id": message.id,
        "template": message.template,
        "journey": message.journey,
        "provider": SOURCE,
        "email": message.to_email,
    }
    if url is not None:
        properties["url"], properties["link"] = url, int(link)
    return Event(
        id=derived_id("trk_", message.id, kind, link), type=event_type, customer_id=message.customer_id,
        properties=properties, timestamp=at,
    )


async def _note(db: Database, session: AsyncSession, message_id: str, event_type: str, url: str | None, at: datetime) -> None:
    """The message log's history gets the first human open and each link's first click
    (appended by the database: a webhook for the same message at once keeps its entry)."""
    entry = {"at": at.isoformat(timespec="seconds"), "status": event_type, "reason": url, "via": SOURCE}
    await session.exec(  # type: ignore[call-overload]
        update(MessageRow)
        .where(col(MessageRow.id) == message_id)
        .values(history=db.json_append(MessageRow.history, entry))
        .execution_options(synchronize_session=False)
    )
