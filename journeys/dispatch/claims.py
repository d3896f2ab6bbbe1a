"""Which process dispatches a customer's events right now: a lease per customer, taken
and given back with one statement each, the same on SQLite and PostgreSQL.

A claim is taken only if nobody holds it or its lease ran out (an owner that died), with
an ``INSERT … ON CONFLICT DO UPDATE … WHERE until < now`` that the database decides
atomically. It saves duplicate work between API processes; the order of a customer's
events does not depend on it (journeys/dispatch/outbox.py says why).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col

from journeys.storage.database import Database
from journeys.storage.tables import DispatchClaimRow

CLAIM_CHUNK = 500  # customers per statement (SQLite allows 32,766 bound parameters)


async def take(db: Database, owner: str, customer_ids: Iterable[str], now: datetime, until: datetime) -> set[str]:
    """Claim the customers nobody else holds; returns those now ours until ``until``."""
    wanted = sorted(set(customer_ids))
    taken: set[str] = set()
    async with db.session() as session:
        for start in range(0, len(wanted), CLAIM_CHUNK):
            rows = [{"customer_id": c, "owner": owner, "until": until} for c in wanted[start : start + CLAIM_CHUNK]]
            statement = db.insert(DispatchClaimRow).values(rows)
            statement = statement.on_conflict_do_update(
                index_elements=["customer_id"],
                set_={"owner": statement.excluded.owner, "until": statement.excluded.until},
                where=col(DispatchClaimRow.until) < now,
            ).returning(col(DispatchClaimRow.customer_id))
            taken.update((await session.exec(statement)).scalars().all())  # type: ignore[call-overload]
        await session.commit()
    return taken


async def give_back(db: Database, owner: str, customer_ids: Iterable[str]) -> None:
    ids = sorted(set(customer_ids))
    async with db.session() as session:
        for start in range(0, len(ids), CLAIM_CHUNK):
            await session.exec(  # type: ignore[call-overload]
                delete(DispatchClaimRow).where(
                    col(DispatchClaimRow.customer_id).in_(ids[start : start + CLAIM_CHUNK]),
                    col(DispatchClaimRow.owner) == owner,
                )
            )
        await session.commit()


async def renew(db: Database, owner: str, customer_ids: Iterable[str], until: datetime) -> None:
    """Extend our claims: a long pass must not outlive its lease (another process, or an
    erasure, would take the customer while we are still handing over their events)."""
    ids = sorted(set(customer_ids))
    async with db.session() as session:
        for start in range(0, len(ids), CLAIM_CHUNK):
            await session.exec(  # type: ignore[call-overload]
                update(DispatchClaimRow)
                .where(col(DispatchClaimRow.customer_id).in_(ids[start : start + CLAIM_CHUNK]), col(DispatchClaimRow.owner) == owner)
                .values(until=until)
            )
        await session.commit()
