"""What a journey entry records for its analytics, from the workflow side: its A/B
variants, its goal conversions, how it ended (activities/experiments.py writes them).
Runs inside Temporal's sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from journeys.contracts.activity_io import RecordConversionInput, RecordEntryInput, RecordOutcomeInput, RecordSplitInput
    from journeys.contracts.events import Event
    from workflows import activity_calls

if TYPE_CHECKING:
    from workflows.definition import JourneySpec


class Records:
    """Mixed into ``Journey``: the entry is ``self._trigger``, the customer ``self._customer_id``."""

    spec: ClassVar[JourneySpec]
    _trigger: Event | None
    _customer_id: str
    _variants: dict[str, str]
    _engine: int
    _entry_due: RecordEntryInput | None = None  # entered, not yet in the database

    def _entry_id(self) -> str:
        assert self._trigger is not None
        return self._trigger.id

    async def _entered(self) -> None:
        entry = RecordEntryInput(
            journey=self.spec.name,
            customer_id=self._customer_id,
            entry_id=self._entry_id(),
            workflow_id=workflow.info().workflow_id,
            at=workflow.now(),
        )
        if self._engine >= 1:
            # Carried by the run's first send (recorded in its transaction: no local
            # activity, no marker); anything else the journey does first records it.
            self._entry_due = entry
            return
        await activity_calls.record_entry(entry, self._engine)

    async def _record_entry_due(self) -> None:
        """Before the journey waits, records anything else or ends: its entry is in the database."""
        due = self._entry_due
        if due is not None:
            await activity_calls.record_entry(due, self._engine)
            self._entry_due = None

    async def _record_split(self, split: str, variant: str) -> None:
        await self._record_entry_due()
        await activity_calls.record_split(
            RecordSplitInput(
                journey=self.spec.name, customer_id=self._customer_id, entry_id=self._entry_id(), split=split, variant=variant,
                at=workflow.now(),
            )
        )

    async def _record_conversion(self, event: Event) -> None:
        await self._record_entry_due()
        await activity_calls.record_conversion(
            RecordConversionInput(
                journey=self.spec.name,
                customer_id=self._customer_id,
                entry_id=self._entry_id(),
                goal=event.type,
                event_id=event.id,
                variants=self._variants,
                at=workflow.now(),
            )
        )

    async def _ended(self, outcome: Literal["completed", "exited", "cancelled"], exit_event: str | None = None) -> None:
        await self._record_entry_due()
        await activity_calls.record_outcome(
            RecordOutcomeInput(
                journey=self.spec.name,
                customer_id=self._customer_id,
                entry_id=self._entry_id(),
                outcome=outcome,
                exit_event=exit_event,
                workflow_id=workflow.info().workflow_id,
                at=workflow.now(),
            ),
            self._engine,
        )
