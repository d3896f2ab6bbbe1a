"""How long a 30-day, 10-step journey takes on the time-skipping test server."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.bare_month import BareMonth, bare_month_noop
from bench.own_process import print_and_exit

from journeys.devstack.binaries import temporal_test_server
from journeys.storage.temporal import DATA_CONVERTER
from journeys.testkit import register_search_attributes, running_journeys
from workflows.registry import discover


async def thirty_day_journey_seconds(runs: int = 9) -> dict[str, float]:
    """Wall-clock seconds from the trigger to the finished journey, over ``runs`` customers."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER, test_server_existing_path=temporal_test_server()
    )
    await register_search_attributes(env)
    try:
        # The yardstick first: the journey's worker skips the SDK's payload walks for the
        # rest of the process (journeys/storage/payload_walks.py); the bare one runs the SDK as is.
        bare = await _bare_month_seconds(env, runs)
        sandboxed = await _journey_month_seconds(env, runs, sandbox=True)  # the test kit's default
        unsandboxed = await _journey_month_seconds(env, runs, sandbox=False)  # as production runs journeys
    finally:
        await env.shutdown()
    return {
        "median_s": statistics.median(sandboxed),
        "max_s": max(sandboxed),
        "unsandboxed_median_s": statistics.median(unsandboxed),
        "bare_median_s": statistics.median(bare),
    }


async def _journey_month_seconds(env: WorkflowEnvironment, runs: int, *, sandbox: bool) -> list[float]:
    timings: list[float] = []
    with tempfile.TemporaryDirectory() as home:
        async with running_journeys(env, discover("bench.journeys"), Path(home), workflow_sandbox=sandbox) as kit:
            for i in range(runs + 1):  # the first run warms up the worker
                customer = f"month-{'s' if sandbox else 'u'}-{i}"
                await kit.customer(customer)
                started = time.perf_counter()
                await kit.emit("bench.month", customer=customer)
                await kit.advance(days=31)
                took = time.perf_counter() - started
                state = await kit.state(customer, "thirty_days")
                assert state.finished and len(kit.sent_to(customer)) == 5, state
                if i:
                    timings.append(took)
    return timings


async def _bare_month_seconds(env: WorkflowEnvironment, runs: int) -> list[float]:
    """The same shape as a bare workflow (Temporal's sandbox, as the test kit runs journeys)."""
    timings: list[float] = []
    async with Worker(env.client, task_queue="bare-month", workflows=[BareMonth], activities=[bare_month_noop]):
        for i in range(runs + 1):
            started = time.perf_counter()
            await env.client.execute_workflow(BareMonth.run, "x", id=f"bare-month-{i}", task_queue="bare-month")
            if i:
                timings.append(time.perf_counter() - started)
    return timings


if __name__ == "__main__":
    print_and_exit(thirty_day_journey_seconds)
