"""Apply Segment calls (journeys/intake/segment_calls.py) in order: profiles, merges, then the event store.

Everything is checked before anything is written, so a bad call refuses the request
whole. Profiles and merges are written as the calls come (an ``identify`` then a
``track`` of the same visitor in one batch lands under the known customer); the events
then take the durable path of ``POST /v1/events`` in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from journeys.customers.profiles import merge_traits
from journeys.contracts.customers import is_time_zone
from journeys.storage.database import Database
from journeys.intake.event_store import StoreResult, store_events
from journeys.contracts.events import Event
from journeys.customers.identity import merge_into, resolve
from journeys.contracts.journey_io import MERGED_EVENT
from journeys.intake.segment_calls import SegmentCall, SegmentError, corrected_timestamp, to_event
from journeys.storage.tables import utcnow

PROFILE_TRAITS = {"email", "timezone", "locale"}


@dataclass(frozen=True)
class ProfileUpdate:
    email: str | None
    timezone: str | None
    locale: str | None
    attributes: dict[str, Any]


def profile_update(call: SegmentCall, where: str) -> ProfileUpdate:
    """What an identify changes on the profile; SegmentError if a value cannot be used."""
    traits, context = call.traits, call.context
    email = traits.get("email")
    if email is not None:
        try:
            email = validate_email(str(email), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise SegmentError(f"{where}.traits.email: {exc}") from None
    zone = context.get("timezone") or traits.get("timezone")
    if zone is not None and not (isinstance(zone, str) and is_time_zone(zone)):
        raise SegmentError(f"{where}.context.timezone: unknown IANA time zone {zone!r} (e.g. 'Europe/Berlin')")
    locale = context.get("locale") or traits.get("locale")
    if locale is not None and not (isinstance(locale, str) and len(locale) <= 35):
        raise SegmentError(f"{where}.context.locale: expected a locale such as 'en-US'")
    attributes = {k: v for k, v in traits.items() if k not in PROFILE_TRAITS}
    return ProfileUpdate(email=email, timezone=zone, locale=locale, attributes=attributes)


async def ingest(
    db: Database,
    calls: list[tuple[SegmentCall, ProfileUpdate | None]],
    batch_sent_at: datetime | None,
    needs_dispatch: Callable[[Event], bool],
) -> StoreResult:
    received_at = utcnow()
    earlier_ids = [c.previousId if c.type == "alias" else c.anonymousId for c, _ in calls]
    events: list[Event] = []
    async with db.session() as session:
        known = await resolve(session, [i for i in earlier_ids if i])  # alias -> customer, merged before
        for (call, update), earlier in zip(calls, earlier_ids):
            if earlier and call.userId and known.get(earlier) != call.userId:
                # First time these two ids come together (SDKs send both on every call after).
                merged = await merge_into(db, earlier, call.userId)
                if merged is not None:
                    known[earlier] = call.userId
                    events.append(merged)
            customer_id = call.userId or known.get(call.anonymousId or "") or call.anonymousId or ""
            if update is not None:
                await merge_traits(
                    session,
                    customer_id,
                    email=update.email,
                    timezone=update.timezone,
                    locale=update.locale,
                    attributes=update.attributes,
                )
            event = to_event(call, customer_id, corrected_timestamp(call, batch_sent_at, received_at))
            if event is not None:
                events.append(event)
    # A visitor's calls earlier in the batch than their sign-up belong to the customer too.
    events = [
        e if e.type == MERGED_EVENT or e.customer_id not in known else e.model_copy(update={"customer_id": known[e.customer_id]})
        for e in events
    ]
    return await store_events(db, events, needs_dispatch=needs_dispatch)
