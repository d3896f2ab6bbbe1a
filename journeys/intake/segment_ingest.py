"""Apply Segment calls (journeys/intake/segment_calls.py): profiles, merges, then the event store.

One request, one transaction: every call is checked and its event built before anything
is written, and the profiles, identity merges and events of the whole request are
committed together or not at all, so a request refused (or failing) half-way leaves
nothing behind and its retry does everything again, the merge's event included.

Calls apply in order: an ``identify`` then a ``track`` of the same visitor in one batch
lands under the known customer, and a chain of merges in one batch (a → b, then b → c)
ends with everything under the last customer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from journeys.contracts import json_values
from journeys.contracts.customers import LOCALE_PATTERN, is_time_zone
from journeys.contracts.events import Event
from journeys.contracts.journey_io import MERGED_EVENT
from journeys.customers.identity import merge_in, resolve
from journeys.customers.profiles import ProfileTooLarge, merge_traits
from journeys.intake.event_store import StoreResult, store_in
from journeys.intake.segment_calls import SegmentCall, SegmentError, corrected_timestamp, to_event
from journeys.storage.database import Database
from journeys.storage.tables import utcnow

PROFILE_TRAITS = {"email", "timezone", "locale"}
log = logging.getLogger("journeys.segment")
_LOCALE = re.compile(LOCALE_PATTERN)


@dataclass(frozen=True)
class ProfileUpdate:
    email: str | None
    timezone: str | None
    locale: str | None
    attributes: dict[str, Any]
    ignored: tuple[str, ...] = ()  # traits the profile could not take, and why


def identify_traits(call: SegmentCall) -> dict[str, Any]:
    """An identify's traits: top-level ``traits``, over ``context.traits`` (where
    RudderStack's SDKs put them; Segment's spec allows both)."""
    in_context = call.context.get("traits")
    return {**(in_context if isinstance(in_context, dict) else {}), **call.traits}


def profile_update(call: SegmentCall, where: str) -> ProfileUpdate:
    """What an identify changes on the profile.

    A profile hint it cannot use (an email address that is not one, an unknown time zone,
    an over-long locale) is left out, as Segment's own destinations do, and noted in the
    log: refusing it would make the SDK drop the whole batch, every other call with it.
    """
    traits, context = identify_traits(call), call.context
    ignored: list[str] = []
    email = traits.get("email")
    if email is not None:
        try:
            email = validate_email(str(email), check_deliverability=False).normalized
            json_values.check(email, f"{where}.traits.email")
        except (EmailNotValidError, json_values.NotStrictJson):
            ignored.append(f"{where}.traits.email: not an email address")
            email = None
    zone, zone_field = (context.get("timezone"), "context.timezone") if context.get("timezone") else (traits.get("timezone"), "traits.timezone")
    if zone is not None and not (isinstance(zone, str) and is_time_zone(zone)):
        ignored.append(f"{where}.{zone_field}: not an IANA time zone")
        zone = None
    locale, locale_field = (context.get("locale"), "context.locale") if context.get("locale") else (traits.get("locale"), "traits.locale")
    if locale is not None and not (isinstance(locale, str) and _LOCALE.fullmatch(locale)):
        ignored.append(f"{where}.{locale_field}: not a locale such as 'en-US'")
        locale = None
    attributes = {k: v for k, v in traits.items() if k not in PROFILE_TRAITS}
    try:  # traits go into the profile, which goes into every journey's start: strict JSON
        json_values.check(attributes, f"{where}.traits")
    except json_values.NotStrictJson as exc:
        raise SegmentError(str(exc)) from None
    return ProfileUpdate(email=email, timezone=zone, locale=locale, attributes=attributes, ignored=tuple(ignored))


@dataclass(frozen=True)
class _Step:
    call: SegmentCall
    update: ProfileUpdate | None
    customer_id: str
    merge: tuple[str, str] | None  # (earlier id, customer id) first seen together here
    event: Event | None


async def ingest(
    db: Database,
    calls: list[tuple[SegmentCall, ProfileUpdate | None, str]],
    batch_sent_at: datetime | None,
    needs_dispatch: Callable[[Event], bool],
) -> StoreResult:
    """``calls``: each call, its profile update (identify) and where it is in the request."""
    received_at = utcnow()
    earlier_ids = [c.previousId if c.type == "alias" else c.anonymousId for c, _, _ in calls]
    async with db.session() as session:
        # alias -> customer, merged before; user ids too, as an alias cannot take another
        known = await resolve(session, [i for i in earlier_ids if i] + [c.userId for c, _, _ in calls if c.userId])
        steps = []
        for (call, update, where), earlier in zip(calls, earlier_ids):
            merge = None
            if earlier and call.userId and earlier != call.userId and earlier not in known and call.userId not in known:
                merge = (earlier, call.userId)  # first time these two ids come together
                known[earlier] = call.userId
            # (an id already merged into another customer stays theirs: the first merge wins)
            customer_id = call.userId or known.get(call.anonymousId or "") or call.anonymousId or ""
            at = corrected_timestamp(call, batch_sent_at, received_at)
            steps.append(_Step(call, update, customer_id, merge, to_event(call, customer_id, at, where)))

        events: list[Event] = []
        for step in steps:
            if step.update is not None:
                u = step.update
                for note in u.ignored:
                    log.info("customer %s: identify left out %s", step.customer_id, note)
                try:
                    await merge_traits(session, db, step.customer_id, email=u.email, timezone=u.timezone, locale=u.locale, attributes=u.attributes)
                except ProfileTooLarge as exc:  # left out, as an unusable hint is: the rest of the request stands
                    log.warning("customer %s: identify traits left out: %s", step.customer_id, exc)
                    await merge_traits(session, db, step.customer_id, email=u.email, timezone=u.timezone, locale=u.locale)
            if step.merge is not None:
                merged = await merge_in(session, db, *step.merge)
                if merged is not None:
                    events.append(merged)
            if step.event is not None:
                events.append(step.event)
        # A visitor's calls earlier in the batch than their sign-up belong to the customer
        # too, at the end of however many merges the batch made.
        events = [e if e.type == MERGED_EVENT else _under(e, _final(known, e.customer_id)) for e in events]
        result = await store_in(session, db, events, needs_dispatch)
        await session.commit()
    return result


def _final(known: dict[str, str], customer_id: str) -> str:
    seen = {customer_id}
    while customer_id in known and known[customer_id] not in seen:
        customer_id = known[customer_id]
        seen.add(customer_id)
    return customer_id


def _under(event: Event, customer_id: str) -> Event:
    return event if event.customer_id == customer_id else event.model_copy(update={"customer_id": customer_id})
