"""The hourly counters (``journey_stats``): moved in the same transaction as the fact
that moves them, so a figure is never ahead of, or behind, what it counts.

A counter is kept overall (split and variant "") and once for each A/B variant the
entry was in, so a variant's figures need no join at read time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.storage.analytics_tables import JourneyStatRow
from journeys.storage.database import Database
from journeys.storage.tables import SplitAssignmentRow

_stats = JourneyStatRow.__table__  # type: ignore[attr-defined]
JOURNEY_LEVEL = ""  # the step of a journey-level figure (entered, completed, converted)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


async def bump(
    db: Database,
    session: AsyncSession,
    *,
    journey: str,
    step: str,
    at: datetime,
    metric: str,
    variants: Mapping[str, str] | None = None,
    by: int = 1,
    overall: bool = True,
) -> None:
    """Add ``by`` to ``metric`` in ``at``'s hour, overall (unless not ``overall``) and for
    each (split, variant). Does not commit: the caller's transaction holds the fact too."""
    hour = hour_of(at)
    keys = [*([("", "")] if overall else []), *sorted((variants or {}).items())]
    rows = [
        {"journey": journey, "step": step, "split": split, "variant": variant, "hour": hour, "metric": metric[:140], "count": by}
        for split, variant in keys
    ]
    if rows:
        await session.exec(db.prepared(_add_count), params=rows)  # type: ignore[call-overload]


def _add_count(db: Database) -> Any:
    # The table, not the ORM entity: Core's cheaper path, on every fact.
    statement = db.insert(_stats)
    return statement.on_conflict_do_update(
        index_elements=["journey", "step", "split", "variant", "hour", "metric"],
        set_={"count": _stats.c.count + statement.excluded.count},
    )


# Built once: every send and every run's end asks it.
_VARIANTS_OF_ENTRY = select(SplitAssignmentRow.split, SplitAssignmentRow.variant).where(
    SplitAssignmentRow.journey == bindparam("journey"), SplitAssignmentRow.entry_id == bindparam("entry_id")
)


async def variants_of(session: AsyncSession, journey: str | None, entry_id: str | None) -> dict[str, str]:
    """The A/B variants (split -> variant) one journey entry was assigned."""
    if not journey or not entry_id:
        return {}
    rows = await session.exec(_VARIANTS_OF_ENTRY, params={"journey": journey, "entry_id": entry_id})  # type: ignore[call-overload]
    return dict(rows.all())
