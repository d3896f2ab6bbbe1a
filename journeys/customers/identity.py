"""One customer, several ids: anonymous visitors who sign up, Segment ``alias`` calls.

Before sign-up an app knows a visitor by an anonymous id, and events under it start
journeys for that id (``journey:abandoned_cart:anon-123``). When the visitor becomes a
known customer (``identify`` with both ids, or ``alias``), ``merge_into``:

1. records the alias (``customer_aliases``), so later events under the anonymous id
   belong to the known customer;
2. folds the anonymous profile into the known one (the known one wins where both have a
   value) and moves the anonymous id's events, message log, subscriptions, splits and
   conversions to the known customer;
3. returns a ``journeys.customer_merged`` event for the anonymous id, which takes the
   durable event path to every journey running under it. Each such journey adopts the
   known customer: its sends go to them, and their events reach it (dispatch falls back
   to the aliases when the known id has no run of that journey, journeys/dispatch/dispatcher.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.customers.profiles import get_customer
from journeys.storage.database import Database
from journeys.contracts.events import Event, derived_id
from journeys.contracts.journey_io import MERGED_EVENT
from journeys.storage.tables import (
    ConversionRow,
    CustomerAliasRow,
    CustomerRow,
    EventRow,
    MessageRow,
    SplitAssignmentRow,
    SubscriptionRow,
    utcnow,
)

log = logging.getLogger("journeys.identity")


async def resolve(session: AsyncSession, ids: Iterable[str]) -> dict[str, str]:
    """alias id -> customer id, for those of ``ids`` that are aliases."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.exec(select(CustomerAliasRow).where(col(CustomerAliasRow.alias_id).in_(wanted)))
    return {row.alias_id: row.customer_id for row in rows.all()}


async def aliases_of(session: AsyncSession, customer_id: str) -> list[str]:
    rows = await session.exec(select(CustomerAliasRow.alias_id).where(CustomerAliasRow.customer_id == customer_id))
    return list(rows.all())


async def merge_into(db: Database, alias_id: str, customer_id: str) -> Event | None:
    """Make ``alias_id`` another id of ``customer_id`` (see the module docstring), in a
    transaction of its own; ``merge_in`` does it inside the caller's."""
    async with db.session() as session:
        merged = await merge_in(session, db, alias_id, customer_id)
        await session.commit()
    return merged


async def merge_in(session: AsyncSession, db: Database, alias_id: str, customer_id: str) -> Event | None:
    """Returns the event that tells the alias's running journeys, or None when there is
    nothing to do (the same id, or an alias already pointing at another customer: the
    first merge wins, as in Segment). Safe to repeat, and to race: the alias row is
    claimed by its key, and the event id is deterministic."""
    if alias_id == customer_id:
        return None
    if await session.get(CustomerAliasRow, customer_id) is not None:
        log.warning("id %s is itself an alias; not merging %s into it", customer_id, alias_id)
        return None
    claimed = await session.exec(  # type: ignore[call-overload]
        db.insert(CustomerAliasRow)
        .values(alias_id=alias_id, customer_id=customer_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["alias_id"])
        .returning(col(CustomerAliasRow.alias_id))
    )
    if claimed.first() is None:
        existing = (await session.exec(select(CustomerAliasRow.customer_id).where(col(CustomerAliasRow.alias_id) == alias_id))).one()
        if existing != customer_id:
            log.warning("id %s is already an alias of %s; not merging it into %s", alias_id, existing, customer_id)
            return None
        # merged before (SDKs send both ids on every call), or by a request at the same moment
    else:
        # Ids merged into the alias earlier now belong to the customer too (no chains).
        await session.exec(  # type: ignore[call-overload]
            update(CustomerAliasRow).where(col(CustomerAliasRow.customer_id) == alias_id).values(customer_id=customer_id)
        )
        await _fold_profile(session, alias_id, customer_id)
        await _move_records(session, alias_id, customer_id)
        log.info("merged %s into customer %s", alias_id, customer_id)
    profile = await get_customer(session, customer_id)
    properties: dict[str, object] = {"customer_id": customer_id}
    if profile is not None:
        properties["customer"] = profile.model_dump(mode="json")
    return Event.model_construct(
        id=derived_id("merge_", alias_id, customer_id), type=MERGED_EVENT, customer_id=alias_id, properties=properties, timestamp=None
    )


async def _fold_profile(session: AsyncSession, alias_id: str, customer_id: str) -> None:
    anonymous = await session.get(CustomerRow, alias_id)
    if anonymous is None:
        return
    known = await session.get(CustomerRow, customer_id)
    if known is None:
        known = CustomerRow(
            id=customer_id,
            email=anonymous.email,
            timezone=anonymous.timezone,
            locale=anonymous.locale,
            attributes=dict(anonymous.attributes or {}),
            created_at=anonymous.created_at,
            updated_at=utcnow(),
        )
    else:
        known.email = known.email or anonymous.email
        known.locale = known.locale or anonymous.locale
        if known.timezone == "UTC":
            known.timezone = anonymous.timezone
        known.attributes = {**(anonymous.attributes or {}), **(known.attributes or {})}
        known.updated_at = utcnow()
    session.add(known)
    await session.delete(anonymous)
    await session.flush()


async def _move_records(session: AsyncSession, alias_id: str, customer_id: str) -> None:
    # Subscriptions: the known customer's own choices win over the visitor's.
    chosen = await session.exec(select(SubscriptionRow.topic).where(SubscriptionRow.customer_id == customer_id))
    taken = list(chosen.all())
    if taken:
        await session.exec(  # type: ignore[call-overload]
            delete(SubscriptionRow).where(
                col(SubscriptionRow.customer_id) == alias_id, col(SubscriptionRow.topic).in_(taken)
            )
        )
    # journey_entries stay under the alias: they are how its keyed runs are found.
    for table in (EventRow, MessageRow, SubscriptionRow, SplitAssignmentRow, ConversionRow):
        await session.exec(  # type: ignore[call-overload]
            update(table).where(col(table.customer_id) == alias_id).values(customer_id=customer_id)
        )
