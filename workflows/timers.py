"""Durable timers as journeys use them: ``sleep``, ``sleep_until`` and the customer's local
time. Mixed into ``Journey`` (workflows/engine.py). Runs inside Temporal's sandbox."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.local_time import next_local_time
    from workflows.steps import StepTracker, human

if TYPE_CHECKING:
    from journeys.contracts.customers import Customer


class Timers:
    _steps: StepTracker

    if TYPE_CHECKING:  # provided by Journey and Records

        @property
        def customer(self) -> Customer: ...

        async def _record_entry_due(self) -> None: ...

    async def sleep(self, duration: timedelta, *, step: str | None = None) -> None:
        """A durable timer. ``step`` names it for operators; default ``sleep:<duration>``."""
        await self._record_entry_due()
        self._steps.set(step or f"sleep:{human(duration)}", timeout=duration)
        await workflow.sleep(duration)

    async def sleep_until(self, moment: datetime, *, step: str | None = None) -> None:
        """Sleep until an aware datetime, e.g. ``self.next_local_time(9)``; past moments return at once."""
        if moment.tzinfo is None:
            raise ValueError("sleep_until needs an aware datetime (use self.next_local_time(...))")
        await self._record_entry_due()
        duration = moment - workflow.now()
        if duration <= timedelta(0):
            return
        label = step or f"sleep-until:{moment.astimezone(timezone.utc).isoformat(timespec='minutes')}"
        self._steps.set(label, timeout=duration)
        await workflow.sleep(duration)

    def next_local_time(self, hour: int, minute: int = 0) -> datetime:
        """The next hour:minute on the customer's wall clock (their time zone), as an aware datetime.

        Across a daylight-saving change the local time is kept (09:00 stays 09:00).
        """
        return next_local_time(workflow.now(), self.customer.timezone, hour, minute)
