"""The yardstick: a bare Temporal workflow that runs one no-op activity.

Started by signal-with-start exactly like a journey, on the same dev server, so the
benchmark can say how much of Temporal's own speed Journeys keeps.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bare_noop")
async def bare_noop(value: str) -> str:
    return value


@workflow.defn(name="bare")
class BareWorkflow:
    def __init__(self) -> None:
        self.got_signal = False

    @workflow.signal(name="go")
    def go(self, _value: str) -> None:
        self.got_signal = True

    @workflow.run
    async def run(self, value: str) -> str:
        await workflow.wait_condition(lambda: self.got_signal)
        return await workflow.execute_activity(bare_noop, value, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn(name="bare_waiting", sandboxed=False)
class BareWaiting:
    """The memory yardstick: started by signal-with-start like a journey, then waits a month
    for what never comes. What the SDK itself keeps for a cached waiting run."""

    @workflow.signal(name="go")
    def go(self, _value: str) -> None:
        """The start's signal, taken and dropped (a journey's inbox holds its events)."""

    @workflow.run
    async def run(self, _value: str) -> None:
        await workflow.wait_condition(lambda: False, timeout=timedelta(days=30))
