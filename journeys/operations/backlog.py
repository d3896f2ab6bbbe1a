"""What waits, read from the database: the outbox (events not yet handed to Temporal), the
age of its oldest event, and the dead letters by kind. The API's ``GET /metrics`` reads
it at every scrape (api/routes/metrics.py); ``GET /healthz`` counts the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select

from journeys.operations.dead_letters import DEAD_MESSAGE
from journeys.storage.database import Database
from journeys.storage.tables import DispatchRow, EventRow, MessageRow, utcnow


@dataclass(frozen=True)
class Backlog:
    outbox_depth: int
    lag_seconds: float  # age of the oldest waiting event; 0 when none waits
    dead_letters: dict[str, int] = field(default_factory=dict)  # by kind: event, message


async def read_backlog(db: Database, now: datetime | None = None) -> Backlog:
    now = now or utcnow()
    waiting = (col(DispatchRow.dispatched_at).is_(None), col(DispatchRow.dead_at).is_(None))
    async with db.report_session() as session:
        depth = int((await session.exec(select(func.count()).select_from(DispatchRow).where(*waiting))).one())
        oldest = (
            await session.exec(
                select(EventRow.received_at)
                .join(DispatchRow, col(DispatchRow.event_id) == col(EventRow.id))
                .where(*waiting)
                .order_by(col(DispatchRow.id))  # the storing order: the first is the oldest
                .limit(1)
            )
        ).first()
        dead_events = select(func.count()).select_from(DispatchRow).where(
            col(DispatchRow.dead_at).is_not(None), col(DispatchRow.resolution).is_(None)
        )
        dead_messages = select(func.count()).select_from(MessageRow).where(
            col(MessageRow.status).in_(DEAD_MESSAGE), col(MessageRow.resolution).is_(None)
        )
        dead = {"event": int((await session.exec(dead_events)).one()), "message": int((await session.exec(dead_messages)).one())}
    lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return Backlog(depth, lag, dead)
