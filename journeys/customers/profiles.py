"""Reading and writing customer profiles (used by the API and by activities)."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.contracts.customers import Customer, CustomerIn
from journeys.storage.tables import CustomerRow, utcnow


def to_customer(row: CustomerRow) -> Customer:
    return Customer(
        id=row.id, email=row.email, timezone=row.timezone, locale=row.locale, attributes=dict(row.attributes or {})
    )


async def get_customer(session: AsyncSession, customer_id: str) -> Customer | None:
    row = await session.get(CustomerRow, customer_id)
    return to_customer(row) if row else None


async def upsert_customer(session: AsyncSession, customer_id: str, data: CustomerIn) -> tuple[Customer, bool]:
    """Create or replace the profile; returns it and whether it was created."""
    now = utcnow()
    row = await session.get(CustomerRow, customer_id)
    created = row is None
    if row is None:
        row = CustomerRow(id=customer_id, created_at=now, updated_at=now)
    row.email = str(data.email) if data.email else None
    row.timezone = data.timezone
    row.locale = data.locale
    row.attributes = data.attributes
    row.updated_at = now
    session.add(row)
    await session.commit()
    return to_customer(row), created


async def merge_traits(
    session: AsyncSession,
    customer_id: str,
    *,
    email: str | None = None,
    timezone: str | None = None,
    locale: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Customer:
    """Create or update the profile with what is given, keeping the rest (Segment ``identify``
    semantics, unlike PUT which replaces). Attributes are merged key by key. Commits."""
    now = utcnow()
    row = await session.get(CustomerRow, customer_id)
    if row is None:
        row = CustomerRow(id=customer_id, attributes={}, created_at=now, updated_at=now)
    if email is not None:
        row.email = email
    if timezone is not None:
        row.timezone = timezone
    if locale is not None:
        row.locale = locale
    if attributes:
        row.attributes = {**(row.attributes or {}), **attributes}
    row.updated_at = now
    session.add(row)
    await session.commit()
    return to_customer(row)
