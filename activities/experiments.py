"""Recording what a journey entry did for its analytics: A/B split assignments, goal
conversions and how the run ended, each once (journeys/analytics/runs.py)."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity

from journeys.analytics import runs
from journeys.contracts.activity_io import (
    RECORD_CONVERSION,
    RECORD_ENTRY,
    RECORD_OUTCOME,
    RECORD_SPLIT,
    RecordConversionInput,
    RecordEntryInput,
    RecordOutcomeInput,
    RecordSplitInput,
)
from journeys.storage.database import Database
from journeys.storage.tables import utcnow


class ExperimentActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name=RECORD_SPLIT)
    async def record_split(self, input: RecordSplitInput) -> None:
        await runs.record_split(self.db, input.journey, input.customer_id, input.entry_id, input.split, input.variant, input.at or _clock())

    @activity.defn(name=RECORD_CONVERSION)
    async def record_conversion(self, input: RecordConversionInput) -> None:
        await runs.record_conversion(
            self.db, input.journey, input.customer_id, input.entry_id, input.goal, input.event_id, input.variants, input.at or _clock()
        )

    @activity.defn(name=RECORD_ENTRY)
    async def record_entry(self, input: RecordEntryInput) -> None:
        await runs.record_entry(self.db, input.journey, input.customer_id, input.entry_id, input.workflow_id, input.at or _clock())

    @activity.defn(name=RECORD_OUTCOME)
    async def record_outcome(self, input: RecordOutcomeInput) -> None:
        await runs.record_outcome(
            self.db, input.journey, input.customer_id, input.entry_id, input.workflow_id, input.outcome, input.exit_event,
            input.at or _clock(),
        )


def _clock() -> datetime:
    """The journey's time (Temporal's: skipped ahead in tests), as the send ledger keeps it."""
    return max(activity.info().current_attempt_scheduled_time, utcnow())
