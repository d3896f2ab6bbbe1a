"""Journey-level facts: an entry, its A/B assignments, its goal conversions, how it ended.

Each is written once (a retried activity or a relay's second try finds its row and
changes nothing) and moves its counters in the entry's hour: the figures of a time
range are those of the entries made in it, whenever they convert or end.
"""

from __future__ import annotations

from typing import Any
from datetime import datetime

from sqlalchemy import bindparam, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.analytics.rollup import JOURNEY_LEVEL, bump, variants_of
from journeys.storage.analytics_tables import JourneyRunRow
from journeys.storage.database import Database
from journeys.storage.tables import ConversionRow, SplitAssignmentRow, utcnow

ENTERED, COMPLETED, CANCELLED = "entered", "completed", "cancelled"


def exited(event_type: str) -> str:
    return f"exited:{event_type}"


def converted(goal: str) -> str:
    return f"converted:{goal}"


async def record_entry(
    db: Database, journey: str, customer_id: str, entry_id: str, workflow_id: str, at: datetime | None = None
) -> bool:
    """A journey run started by ``entry_id``; False if it was recorded before. ``at``: the
    journey's clock (Temporal's, which tests skip ahead), else now."""
    async with db.session() as session:
        first = await entry_in(db, session, journey, customer_id, entry_id, workflow_id, at)
        await session.commit()
    return first


async def entry_in(
    db: Database, session: AsyncSession, journey: str, customer_id: str, entry_id: str, workflow_id: str,
    at: datetime | None = None,
) -> bool:
    """``record_entry`` in the caller's transaction (the first send's: activities/deliver.py). Does not commit."""
    now = at or utcnow()
    inserted = await session.exec(  # type: ignore[call-overload]
        db.prepared(_insert_run),
        params={"journey": journey, "customer_id": customer_id, "entry_id": entry_id, "workflow_id": workflow_id, "entered_at": now},
    )
    first = inserted.first() is not None
    if first:
        await bump(db, session, journey=journey, step=JOURNEY_LEVEL, at=now, metric=ENTERED)
    return first


def _insert_run(db: Database) -> Any:
    return (
        db.insert(JourneyRunRow.__table__)  # type: ignore[attr-defined]
        .on_conflict_do_nothing(index_elements=["journey", "entry_id"])
        .returning(JourneyRunRow.__table__.c.id)  # type: ignore[attr-defined]
    )


async def _entered_at(session: AsyncSession, journey: str, entry_id: str, at: datetime | None) -> datetime:
    found = await session.exec(
        select(JourneyRunRow.entered_at).where(JourneyRunRow.journey == journey, JourneyRunRow.entry_id == entry_id)
    )
    # A run from before runs were recorded counts in the hour it is seen.
    return found.first() or at or utcnow()


async def record_split(
    db: Database, journey: str, customer_id: str, entry_id: str, split: str, variant: str, at: datetime | None = None
) -> None:
    async with db.session() as session:
        inserted = await session.exec(  # type: ignore[call-overload]
            db.insert(SplitAssignmentRow)
            .values(journey=journey, customer_id=customer_id, entry_id=entry_id, split=split, variant=variant, assigned_at=at or utcnow())
            .on_conflict_do_nothing(index_elements=["journey", "customer_id", "entry_id", "split"])
            .returning(col(SplitAssignmentRow.id))
        )
        if inserted.first() is not None:
            at_entry = await _entered_at(session, journey, entry_id, at)
            # The variant's own "entered"; the journey's was counted at the entry.
            await bump(db, session, journey=journey, step=JOURNEY_LEVEL, at=at_entry, metric=ENTERED, variants={split: variant}, overall=False)
        await session.commit()


async def record_conversion(
    db: Database, journey: str, customer_id: str, entry_id: str, goal: str, event_id: str, variants: dict[str, str],
    at: datetime | None = None,
) -> None:
    async with db.session() as session:
        inserted = await session.exec(  # type: ignore[call-overload]
            db.insert(ConversionRow)
            .values(
                journey=journey, customer_id=customer_id, entry_id=entry_id, goal=goal, event_id=event_id,
                variants=variants, converted_at=at or utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["journey", "customer_id", "entry_id", "goal"])
            .returning(col(ConversionRow.id))
        )
        if inserted.first() is not None:
            at_entry = await _entered_at(session, journey, entry_id, at)
            await bump(db, session, journey=journey, step=JOURNEY_LEVEL, at=at_entry, metric=converted(goal), variants=variants)
        await session.commit()


_runs = JourneyRunRow.__table__  # type: ignore[attr-defined]
# Built once (every run ends once; building it cost more than running it).
_END_RUN = (
    update(_runs)
    .where(_runs.c.journey == bindparam("w_journey"), _runs.c.entry_id == bindparam("w_entry_id"), _runs.c.ended_at.is_(None))
    .values(
        ended_at=bindparam("v_ended_at", type_=_runs.c.ended_at.type),
        outcome=bindparam("v_outcome", type_=_runs.c.outcome.type),
        exit_event=bindparam("v_exit_event", type_=_runs.c.exit_event.type),
    )
    .returning(_runs.c.entered_at)
)


async def record_outcome(
    db: Database, journey: str, customer_id: str, entry_id: str, workflow_id: str, outcome: str, exit_event: str | None,
    at: datetime | None = None,
) -> None:
    """How the run ended (completed, exited on an event, cancelled): once. A run whose
    entry was not recorded (it began before runs were) is entered here."""
    now = at or utcnow()
    async with db.session() as session:
        ended = await session.exec(  # type: ignore[call-overload]
            _END_RUN, params={"w_journey": journey, "w_entry_id": entry_id, "v_ended_at": now, "v_outcome": outcome, "v_exit_event": exit_event}
        )
        found = ended.first()
        entered_at: datetime | None = found[0] if found is not None else None
        if entered_at is None:
            inserted = await session.exec(  # type: ignore[call-overload]
                db.insert(JourneyRunRow)
                .values(
                    journey=journey, customer_id=customer_id, entry_id=entry_id, workflow_id=workflow_id,
                    entered_at=now, ended_at=now, outcome=outcome, exit_event=exit_event,
                )
                .on_conflict_do_nothing(index_elements=["journey", "entry_id"])
                .returning(col(JourneyRunRow.id))
            )
            if inserted.first() is None:  # recorded as ended before: a retried activity
                await session.commit()
                return
            entered_at = now
            await bump(db, session, journey=journey, step=JOURNEY_LEVEL, at=now, metric=ENTERED)
        variants = await variants_of(session, journey, entry_id)
        metric = {"completed": COMPLETED, "cancelled": CANCELLED}.get(outcome) or exited(exit_event or "?")
        await bump(db, session, journey=journey, step=JOURNEY_LEVEL, at=entered_at, metric=metric, variants=variants)
        await session.commit()


async def end_open_runs(db: Database, session: AsyncSession, customer_ids: list[str], outcome: str = CANCELLED) -> int:
    """The customer's runs still open end now as ``outcome`` (erasure stops them in
    Temporal, where no outcome will ever be recorded): otherwise "active" would count
    them for ever. Counted in their entry's hour, as every ending is. Does not commit;
    returns how many ended."""
    ended = await session.exec(  # type: ignore[call-overload]
        update(JourneyRunRow)
        .where(col(JourneyRunRow.customer_id).in_(customer_ids), col(JourneyRunRow.ended_at).is_(None))
        .values(ended_at=utcnow(), outcome=outcome)
        .returning(col(JourneyRunRow.journey), col(JourneyRunRow.entry_id), col(JourneyRunRow.entered_at))
        .execution_options(synchronize_session=False)
    )
    runs = ended.all()
    for journey, entry_id, entered_at in runs:
        variants = await variants_of(session, journey, entry_id)
        await bump(db, session, journey=journey, step=JOURNEY_LEVEL, at=entered_at, metric=outcome, variants=variants)
    return len(runs)
