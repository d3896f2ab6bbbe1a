"""JOURNEYS_SEND_RATE_LIMIT: Temporal holds sends to the rate, across every worker.

On the real dev server (the time-skipping server does not apply task-queue rate limits).
"""

from __future__ import annotations

import time
from pathlib import Path

from journeys.providers.base import OutgoingEmail
from journeys.testkit import running_journeys
from tests.conftest import wait_until
from temporalio.testing import WorkflowEnvironment
from workflows.registry import discover


async def test_sends_are_held_to_the_rate_limit(dev_server: WorkflowEnvironment, tmp_path: Path) -> None:
    rate, count = 4.0, 14
    async with running_journeys(dev_server, discover(), tmp_path, send_rate_limit=rate) as kit:
        sent_at: list[float] = []
        capture = kit.outbox.send

        async def timed(email: OutgoingEmail) -> str:
            sent_at.append(time.monotonic())
            return await capture(email)

        kit.outbox.send = timed  # type: ignore[method-assign]
        for n in range(count):
            await kit.customer(f"r{n}")
        started = time.monotonic()
        for n in range(count):
            await kit.send_message(f"r{n}", "welcome", settle=False)

        async def all_sent() -> bool:
            return len(sent_at) == count

        await wait_until(all_sent, timeout=30, what=f"{count} sends")
    took = sent_at[-1] - started
    # A token bucket lets a first burst through; after it, no more than `rate` a second.
    assert took >= (count - 2 * rate) / rate, f"{count} sends at {rate}/s took only {took:.2f}s"
    busiest = max(sum(1 for t in sent_at if start <= t < start + 1.0) for start in sent_at)
    assert busiest <= 2 * rate, f"{busiest} sends within one second"
