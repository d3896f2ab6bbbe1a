"""The time-skipping yardstick: a bare workflow of the 30-day journey's shape (five no-op
activities, each followed by a six-day sleep), so the benchmark can say how much of the
test server's own speed the journey test keeps."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bare_month_noop")
async def bare_month_noop(value: str) -> str:
    return value


@workflow.defn(name="bare_month")
class BareMonth:
    @workflow.run
    async def run(self, value: str) -> None:
        for _ in range(5):
            await workflow.execute_activity(bare_month_noop, value, start_to_close_timeout=timedelta(seconds=30))
            await workflow.sleep(timedelta(days=6))
