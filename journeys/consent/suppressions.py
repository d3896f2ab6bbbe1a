"""The suppression list: addresses that get no marketing mail, or no mail at all.

Kept by SHA-256 of the normalised address, one row per reason, so that erasure keeps no
personal data and lifting one reason leaves the others. What each reason stops:

- ``hard_bounce``: the address does not exist; nothing is sent to it, transactional or not.
- ``complaint``: the person marked our mail as spam; no more marketing.
- ``manual``: support or an import said so; no more marketing.
- ``erased``: the customer was erased (journeys/operations/erasure.py); no more marketing, ever.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from sqlalchemy import bindparam, delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.storage.database import Database
from journeys.storage.tables import SuppressionRow, utcnow

Reason = Literal["hard_bounce", "complaint", "manual", "erased"]
# The reasons that stop transactional mail too: sending to an address that does not
# exist hurts the sender's reputation whatever the mail is.
STOPS_TRANSACTIONAL = frozenset({"hard_bounce"})


def email_hash(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


async def suppress(db: Database, session: AsyncSession, email: str, reason: Reason, source: str) -> bool:
    """Add the reason for the address (kept if already there); True if it is new. The caller commits."""
    statement = (
        db.insert(SuppressionRow)
        .values(email_sha256=email_hash(email), reason=reason, source=source, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["email_sha256", "reason"])
        .returning(col(SuppressionRow.reason))
    )
    added = (await session.exec(statement)).first()  # type: ignore[call-overload]
    return added is not None


async def lift(session: AsyncSession, email: str, reason: Reason) -> bool:
    """Remove one reason for the address; True if it was there. The caller commits."""
    result = await session.exec(  # type: ignore[call-overload]
        delete(SuppressionRow).where(
            col(SuppressionRow.email_sha256) == email_hash(email), col(SuppressionRow.reason) == reason
        )
    )
    return bool(result.rowcount)


# Built once: every send asks it (a statement built per call cost more than running it).
_OF_ADDRESS = (
    select(SuppressionRow).where(SuppressionRow.email_sha256 == bindparam("email_sha256")).order_by(col(SuppressionRow.created_at))
)


async def suppressions_of(session: AsyncSession, email: str) -> list[SuppressionRow]:
    rows = await session.exec(_OF_ADDRESS, params={"email_sha256": email_hash(email)})  # type: ignore[call-overload]
    return list(rows.all())
