"""Recording A/B split assignments and goal conversions, once per journey entry."""

from __future__ import annotations

from typing import Any

from temporalio import activity

from journeys.contracts.activity_io import RECORD_CONVERSION, RECORD_SPLIT, RecordConversionInput, RecordSplitInput
from journeys.storage.database import Database
from journeys.storage.tables import ConversionRow, SplitAssignmentRow, utcnow


class ExperimentActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name=RECORD_SPLIT)
    async def record_split(self, input: RecordSplitInput) -> None:
        await self._insert_once(
            SplitAssignmentRow, {**input.model_dump(), "assigned_at": utcnow()}, ["journey", "customer_id", "entry_id", "split"]
        )

    @activity.defn(name=RECORD_CONVERSION)
    async def record_conversion(self, input: RecordConversionInput) -> None:
        await self._insert_once(
            ConversionRow, {**input.model_dump(), "converted_at": utcnow()}, ["journey", "customer_id", "entry_id", "goal"]
        )

    async def _insert_once(self, table: Any, values: dict[str, Any], unique: list[str]) -> None:
        """A retried activity finds its row already there and changes nothing."""
        statement = self.db.insert(table).values(**values).on_conflict_do_nothing(index_elements=unique)
        async with self.db.session() as session:
            await session.exec(statement)  # type: ignore[call-overload]
            await session.commit()
