"""Journey goals: events that count as conversions, recorded once per journey entry.

A conversion is written to the database by a local activity from a background task, so a
goal event never waits for the database; before a journey ends or hands over
(continue-as-new) every conversion it saw is written. Runs inside Temporal's sandbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from journeys.contracts.events import Event

Record = Callable[[Event], Awaitable[None]]


class Goals:
    def __init__(self, record: Record) -> None:
        self._record = record
        self.ends: dict[str, bool] = {}  # goal event type -> reaching it ends the journey
        self.converted: list[str] = []  # goals reached, in order
        self._due: list[Event] = []  # reached, not yet in the database
        self._task: asyncio.Task[None] | None = None

    def declare(self, event_type: str, *, exit: bool) -> None:
        self.ends[event_type] = exit
        if self._task is None:
            self._task = asyncio.create_task(self._record_all())

    def is_goal(self, event_type: str) -> bool:
        return event_type in self.ends

    def reached(self, event: Event) -> bool:
        """Count ``event`` as a conversion (once per goal); True if it ends the journey."""
        if event.type not in self.ends or event.type in self.converted:
            return False
        self.converted.append(event.type)
        self._due.append(event)
        return self.ends[event.type]

    @property
    def all_recorded(self) -> bool:
        return not self._due

    async def flush(self) -> None:
        """Before the journey ends: every conversion it saw is in the database."""
        if self._task is not None:
            await workflow.wait_condition(lambda: not self._due)
            self._task.cancel()

    async def _record_all(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._due))
            await self._record(self._due[0])
            self._due.pop(0)
