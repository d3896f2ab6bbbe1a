"""Reading and writing customer profiles (used by the API, Segment intake and activities).

Writes are safe to race: a new profile is created with ``INSERT … ON CONFLICT DO
NOTHING``, so ten simultaneous first writes of one customer create it once and the
others update it, instead of nine failing on the primary key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.contracts import json_values
from journeys.contracts.customers import Customer, CustomerIn
from journeys.storage.database import Database
from journeys.storage.tables import CustomerRow, EventRow, utcnow


class ProfileTooLarge(ValueError):
    """The profile would grow past what a journey's start can carry."""


def to_customer(row: Any) -> Customer:
    """A ``CustomerRow``, or a result row with the same columns (``get_customer``)."""
    return Customer(
        id=row.id, email=row.email, timezone=row.timezone, locale=row.locale, attributes=dict(row.attributes or {})
    )


_customers = CustomerRow.__table__  # type: ignore[attr-defined]
# Built once: every send reads its customer, and a statement built per call (or the ORM's
# get, which builds one and an entity) costs more than the read itself.
_PROFILE_BY_ID = core_select(
    _customers.c.id, _customers.c.email, _customers.c.timezone, _customers.c.locale, _customers.c.attributes
).where(_customers.c.id == bindparam("customer_id"))


async def get_customer(session: AsyncSession, customer_id: str) -> Customer | None:
    found = (await session.exec(_PROFILE_BY_ID, params={"customer_id": customer_id})).first()  # type: ignore[call-overload]
    return to_customer(found) if found is not None else None


async def is_known(session: AsyncSession, customer_id: str) -> bool:
    """A profile, or events, under this id: a customer journeys may know (an erased or
    never-seen id is not one)."""
    if await session.get(CustomerRow, customer_id) is not None:
        return True
    found = await session.exec(select(EventRow.id).where(col(EventRow.customer_id) == customer_id).limit(1))
    return found.first() is not None


async def _row_for_update(session: AsyncSession, db: Database, customer_id: str) -> tuple[CustomerRow, bool]:
    """The customer's row, created if missing, locked for this transaction; and whether it
    was created now."""
    now = utcnow()
    created = await session.exec(  # type: ignore[call-overload]
        db.insert(CustomerRow)
        .values(id=customer_id, timezone="UTC", attributes={}, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(col(CustomerRow.id))
    )
    was_created = created.first() is not None
    query = select(CustomerRow).where(col(CustomerRow.id) == customer_id).execution_options(populate_existing=True)
    if not db.is_sqlite:  # SQLite: the INSERT above already holds the database's write lock
        query = query.with_for_update()
    row = (await session.exec(query)).one()
    return row, was_created


async def upsert_customer(session: AsyncSession, db: Database, customer_id: str, data: CustomerIn) -> tuple[Customer, bool]:
    """Create or replace the profile; returns it and whether it was created. Commits."""
    row, created = await _row_for_update(session, db, customer_id)
    row.email = str(data.email) if data.email else None
    row.timezone = data.timezone
    row.locale = data.locale
    row.attributes = data.attributes
    row.updated_at = utcnow()
    session.add(row)
    await session.commit()
    return to_customer(row), created


async def merge_traits(
    session: AsyncSession,
    db: Database,
    customer_id: str,
    *,
    email: str | None = None,
    timezone: str | None = None,
    locale: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Customer:
    """Create or update the profile with what is given, keeping the rest (Segment ``identify``
    semantics, unlike PUT which replaces). Attributes are merged key by key. The caller
    commits. ProfileTooLarge, changing nothing, if the merged profile would not fit a
    journey's start (json_values.MAX_ENCODED_BYTES, as PUT allows)."""
    row, _ = await _row_for_update(session, db, customer_id)
    merged = {**(row.attributes or {}), **(attributes or {})}
    after = Customer(
        id=customer_id,
        email=email if email is not None else row.email,
        timezone=timezone or row.timezone,
        locale=locale if locale is not None else row.locale,
        attributes=merged,
    )
    try:
        json_values.check_size(after, "the profile")
    except json_values.NotStrictJson as exc:
        raise ProfileTooLarge(str(exc)) from None
    if email is not None:
        row.email = email
    if timezone is not None:
        row.timezone = timezone
    if locale is not None:
        row.locale = locale
    if attributes:
        row.attributes = merged
    row.updated_at = utcnow()
    session.add(row)
    await session.flush()
    return to_customer(row)
