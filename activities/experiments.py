"""Recording A/B split assignments and goal conversions, once per journey entry."""

from __future__ import annotations

from temporalio import activity

from activities.contracts import RECORD_CONVERSION, RECORD_SPLIT, RecordConversionInput, RecordSplitInput
from core.database import Database
from core.tables import ConversionRow, SplitAssignmentRow, utcnow


class ExperimentActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name=RECORD_SPLIT)
    async def record_split(self, input: RecordSplitInput) -> None:
        statement = (
            self.db.insert(SplitAssignmentRow)
            .values(**input.model_dump(), assigned_at=utcnow())
            .on_conflict_do_nothing(index_elements=["journey", "customer_id", "entry_id", "split"])
        )
        async with self.db.session() as session:
            await session.exec(statement)  # type: ignore[call-overload]
            await session.commit()

    @activity.defn(name=RECORD_CONVERSION)
    async def record_conversion(self, input: RecordConversionInput) -> None:
        statement = (
            self.db.insert(ConversionRow)
            .values(**input.model_dump(), converted_at=utcnow())
            .on_conflict_do_nothing(index_elements=["journey", "customer_id", "entry_id", "goal"])
        )
        async with self.db.session() as session:
            await session.exec(statement)  # type: ignore[call-overload]
            await session.commit()
