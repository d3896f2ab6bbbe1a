"""Where a journey is, for operators: its step, what it waits for and until when.

The step is also the ``JourneyStep`` search attribute while the journey waits or sleeps
("every customer waiting for their cart reminder" is one Temporal UI query). Runs inside
Temporal's workflow sandbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from journeys.contracts import search_attributes as sa


class StepTracker:
    def __init__(self) -> None:
        self.step = "waiting for trigger"
        self.waiting_for: list[str] = []
        self.until: datetime | None = None
        self.finished = False
        self._busy = 0  # activities in flight (the test kit waits for 0)

    @property
    def busy(self) -> bool:
        return self._busy > 0

    def enter_activity(self) -> None:
        self._busy += 1

    def leave_activity(self) -> None:
        self._busy -= 1

    def set(
        self,
        step: str,
        *,
        waiting_for: list[str] | None = None,
        timeout: timedelta | None = None,
        searchable: bool = True,
    ) -> None:
        self.step = step
        self.waiting_for = waiting_for or []
        self.until = workflow.now() + timeout if timeout is not None else None
        if searchable:
            workflow.upsert_search_attributes([sa.JOURNEY_STEP.value_set(step)])

    def finish(self, step: str) -> None:
        self.finished = True
        self.set(step)


def human(duration: timedelta) -> str:
    """``1d``, ``2h``, ``90s``: a duration as a step label."""
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
