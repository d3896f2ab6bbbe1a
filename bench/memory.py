"""What waiting customers cost the worker: RSS with N journeys parked in wait_for."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from temporalio.client import Client


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def park_customers(http: httpx.AsyncClient, client: Client, worker_pid: int, count: int) -> dict[str, float]:
    """Send ``count`` bench.wait events through the API and wait until every journey waits."""
    before = rss_mb(worker_pid)
    started = time.perf_counter()
    batch = 1000
    for start in range(0, count, batch):
        events = [
            {"id": f"wait-{i}", "type": "bench.wait", "customer_id": f"w{i}"} for i in range(start, min(count, start + batch))
        ]
        response = await http.post("/v1/events", json={"events": events})
        assert response.status_code == 202, response.text
    query = 'Journey="waiting" AND JourneyStep="wait:bench.never" AND ExecutionStatus="Running"'
    deadline = time.monotonic() + 900
    waiting = 0
    while time.monotonic() < deadline:
        waiting = (await client.count_workflows(query)).count
        if waiting >= count:
            break
        await asyncio.sleep(1)
    took = time.perf_counter() - started
    if waiting < count:
        raise TimeoutError(f"only {waiting} of {count} journeys reached their wait")
    await asyncio.sleep(2)  # let the worker's allocator settle
    after = rss_mb(worker_pid)
    return {
        "waiting": float(count),
        "rss_before_mb": before,
        "rss_after_mb": after,
        "mb_per_1000_waiting": (after - before) / (count / 1000),
        "journeys_started_per_s": count / took,
    }
