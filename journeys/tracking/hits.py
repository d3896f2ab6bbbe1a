"""A tracking hit, recorded: every hit for the timeline, the first human one as an event.

Every hit (a person's or a machine's) is a ``message_events`` row of its own
(journeys/analytics/message_facts.py), with the machine and why, so repeated opens and
scanner traffic are all visible; its id is derived from the message, the kind, the link
and the hit itself (time in milliseconds, user agent, address), so only a request
repeated in the same millisecond by the same client is the same hit.

The first hit a person makes per message (opens) or per message and link URL (clicks) is
also stored as an event (``email.clicked`` with the URL, or ``email.opened``) under the
message's customer, in the same transaction, with the id an ESP's report of it gets too
(journeys/intake/engagement.py, which decides what every open and click becomes): a
second click, or the ESP's webhook for the same open, stores no second event. The caller
dispatches ``to_dispatch`` (an open) now and ``held`` (a click) once the burst window has
passed, on the durable path ESP webhooks take (the outbox row is written with the
event): a click that turns out to be the first of a scanner's burst is withdrawn before
any journey hears of it. Machine hits are never dispatched.

The message's row is locked first, so hits of one message are decided one at a time
(a scanner fetching every link at once is seen as the burst it is) and a hit racing the
customer's erasure either finds the message gone or is erased with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from journeys.contracts.email_event_types import CLICKED, OPENED
from journeys.contracts.events import Event, derived_id
from journeys.intake.engagement import Engagement, add_note, lock_message, record_engagement, retrying
from journeys.intake.machines import Rules, Verdict
from journeys.storage.database import Database
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
    to_dispatch: list[Event] = field(default_factory=list)  # dispatch now
    held: list[Event] = field(default_factory=list)  # dispatch once the burst window has passed


async def record_hit(
    db: Database, claims: TrackingClaims, hit: Hit, *, cares: Callable[[str], Any], rules: Rules = Rules()
) -> Recorded | None:
    """Record the hit; None (nothing recorded) when the message is not ours (any more) or
    has no link at the token's position."""

    async def attempt() -> Recorded | None:
        async with db.session() as session:
            message = await lock_message(db, session, claims.message_id)
            if message is None:
                return None
            url: str | None = None
            kind, link = claims.kind, "" if claims.link_index is None else str(claims.link_index)
            properties: dict[str, Any] = {
                "message_id": message.id, "template": message.template, "journey": message.journey, "provider": SOURCE,
                "email": message.to_email,
            }
            if kind == "click":
                links = message.links or []
                index = claims.link_index
                if index is None or index >= len(links) or not isinstance(links[index], str):
                    return None
                url = links[index]
                properties |= {"url": url, "link": index}
            nonce = (str(int(hit.at.timestamp() * 1000)), hit.user_agent, hit.address or "")
            outcome = await record_engagement(
                db, session, message,
                Engagement(
                    type=CLICKED if kind == "click" else OPENED, source=SOURCE,
                    fact_id=derived_id("trh_", message.id, kind, link, *nonce), at=hit.at,
                    user_agent=hit.user_agent, address=hit.address, url=url, properties=properties,
                ),
                cares=cares, rules=rules,
            )
            if outcome.note is not None:
                await add_note(db, session, message.id, outcome.note)
            await session.commit()
        return Recorded(
            url=url, verdict=outcome.verdict, first=bool(outcome.stored), to_dispatch=outcome.to_dispatch, held=outcome.held,
        )

    return await retrying(db, attempt, f"tracking hit of message {claims.message_id}")
