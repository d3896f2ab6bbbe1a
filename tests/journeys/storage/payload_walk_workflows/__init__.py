"""A one-activity workflow for tests/journeys/storage/test_payload_walks.py (its own module:
Temporal's sandbox re-imports workflow modules)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="payload_walk_echo")
async def echo(value: str) -> str:
    return value


@workflow.defn(name="payload_walk_echo")
class Echo:
    @workflow.run
    async def run(self, value: str) -> str:
        return await workflow.execute_activity(echo, value, start_to_close_timeout=timedelta(seconds=10))
