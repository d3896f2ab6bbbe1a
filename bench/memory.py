"""What waiting customers cost the worker.

* cached: RSS with N journeys parked in ``wait_for``, every one in the worker's cache, per
  journey (``park_customers``); and what one cached run holds, by owner (``breakdown``,
  in this process with tracemalloc);
* evicted: N customers waiting with the default cache (1,000 runs): the worker's RSS, and
  how long an evicted journey takes to resume on its event, replayed from its history
  (``resume_latencies``).
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from temporalio.client import Client

from bench.own_process import print_and_exit


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def entered(database: Path, prefix: str) -> int:
    """Waiting journeys of customers ``prefix...`` that have entered (their entry is written
    just before their wait begins). Read from the project's database: counting in Temporal's
    visibility store every second would cost its server more than the journeys do."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as connection:
        (count,) = connection.execute(
            "SELECT count(*) FROM journey_runs WHERE journey = 'waiting' AND customer_id LIKE ?", (prefix + "%",)
        ).fetchone()
    return int(count)


async def park(http: httpx.AsyncClient, database: Path, prefix: str, count: int) -> float:
    """Send ``count`` bench.wait events in batches; wait until all of them wait. Seconds taken."""
    started = time.perf_counter()
    for start in range(0, count, 1000):
        events = [
            {"id": f"{prefix}-{i}", "type": "bench.wait", "customer_id": f"{prefix}{i}"} for i in range(start, min(count, start + 1000))
        ]
        response = await http.post("/v1/events", json={"events": events})
        assert response.status_code == 202, response.text
    deadline = time.monotonic() + max(900, count / 20)
    waiting = 0
    while time.monotonic() < deadline:
        waiting = entered(database, prefix)
        if waiting >= count:
            return time.perf_counter() - started
        await asyncio.sleep(1)
    raise TimeoutError(f"only {waiting} of {count} journeys reached their wait")


async def park_customers(http: httpx.AsyncClient, database: Path, worker_pid: int, count: int) -> dict[str, float]:
    """RSS per journey with ``count`` parked and all of them cached."""
    before = rss_mb(worker_pid)
    took = await park(http, database, "w", count)
    await asyncio.sleep(2)  # let the worker's allocator settle
    after = rss_mb(worker_pid)
    return {
        "waiting": float(count),
        "rss_before_mb": before,
        "rss_after_mb": after,
        "mb_per_1000_waiting": (after - before) / (count / 1000),
        "kb_per_cached_journey": (after - before) * 1024 / count,
        "journeys_started_per_s": count / took,
    }


def machine_busy_share(window_s: float) -> float:
    """Share of all cores busy over ``window_s`` (Linux /proc/stat; blocking, run in a thread)."""

    def totals() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    busy_before, total_before = totals()
    time.sleep(window_s)
    busy_after, total_after = totals()
    return (busy_after - busy_before) / max(1, total_after - total_before)


async def until_quiet(most_busy: float = 0.15, window_s: float = 5.0, deadline_s: float = 900.0) -> float:
    """Wait until the machine's cores are mostly idle for a whole window: after parking tens of
    thousands of journeys, the Temporal server goes on writing their histories and visibility
    for minutes after the last one has entered its wait, and a resume measured meanwhile times
    that backlog, not a replay. Seconds waited (the deadline's, if it never got quiet)."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if await asyncio.to_thread(machine_busy_share, window_s) <= most_busy:
            break
    return time.monotonic() - started


async def resume_latencies(
    http: httpx.AsyncClient, client: Client, database: Path, worker_pid: int, count: int, samples: int = 200, rate: float = 10.0
) -> dict[str, float]:
    """Park ``count`` customers under the default cache, then send ``samples`` of them (at
    random, so nearly all evicted) the event they wait for, at ``rate`` a second, once the
    machine is quiet again: seconds from the request to the finished journey."""
    took = await park(http, database, "e", count)
    quiet_after = await until_quiet()
    rss = rss_mb(worker_pid)
    chosen = random.Random(7).sample(range(count), min(samples, count))
    latencies: list[float] = []

    async def resume(i: int) -> None:
        started = time.perf_counter()
        response = await http.post("/v1/events", json={"id": f"resume-{i}", "type": "bench.never", "customer_id": f"e{i}"})
        assert response.status_code == 202, response.text
        await client.get_workflow_handle(f"journey:waiting:e{i}").result()
        latencies.append(time.perf_counter() - started)

    tasks = []
    for i in chosen:
        tasks.append(asyncio.create_task(resume(i)))
        await asyncio.sleep(1 / rate)
    await asyncio.gather(*tasks)
    ordered = sorted(latencies)
    return {
        "waiting": float(count),
        "rss_mb": rss,
        "journeys_started_per_s": count / took,
        "quiet_after_s": quiet_after,
        "resume_p50_ms": ordered[len(ordered) // 2] * 1000,
        "resume_p99_ms": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000,
    }


# What a cached run holds, by who allocated it (file path fragments, first match wins).
OWNERS = [
    ("Temporal SDK: workflow instance", "temporalio/worker/_workflow_instance.py"),
    ("Temporal SDK: other", "temporalio/"),
    ("journey engine (workflows/)", "/workflows/"),
    ("journey and contracts (pydantic models)", "pydantic"),
    ("asyncio tasks and futures", "asyncio/"),
]


async def breakdown(count: int = 1000) -> dict[str, float]:
    """KB per cached waiting run, in this process: RSS, Python's heap by owner, and the rest
    (Temporal's core, in Rust, and the allocator)."""
    from temporalio.testing import WorkflowEnvironment

    from journeys.contracts import search_attributes
    from journeys.devstack.binaries import temporal_cli
    from journeys.storage.temporal import DATA_CONVERTER
    from journeys.testkit import running_journeys
    from workflows.registry import discover

    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER, dev_server_existing_path=temporal_cli(), search_attributes=search_attributes.ALL
    )
    try:
        with tempfile.TemporaryDirectory(prefix="journeys-bench-breakdown-") as home:
            # As production runs them: no sandbox (the test kit's default is the sandbox).
            async with running_journeys(
                env, discover("bench.journeys"), Path(home), worker_max_cached_workflows=3 * count + 200, workflow_sandbox=False
            ) as kit:

                async def wave(prefix: str) -> None:
                    for i in range(count):
                        await kit.emit("bench.wait", customer=f"{prefix}{i}", settle=False)
                    await kit.settle()
                    gc.collect()

                figures = await _measured(wave, count)
    finally:
        await env.shutdown()
    return figures


async def _measured(wave: Callable[[str], Awaitable[None]], count: int) -> dict[str, float]:
    """Park a warm-up wave, then one for RSS, then one under tracemalloc: KB per run."""
    await wave("warm")
    rss_before = rss_mb(os.getpid())
    await wave("rss")
    rss_kb = (rss_mb(os.getpid()) - rss_before) * 1024 / count
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    await wave("heap")
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return _by_owner(rss_kb, before, after, count)


def _by_owner(rss_kb: float, before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, count: int) -> dict[str, float]:
    owners: Counter[str] = Counter()
    for stat in after.compare_to(before, "filename"):
        name = next((owner for owner, fragment in OWNERS if fragment in stat.traceback[0].filename), "other Python")
        owners[name] += stat.size_diff
    result = {name: size / 1024 / count for name, size in owners.items()}
    python_kb = sum(result.values())
    return {"rss_kb": rss_kb, "python_heap_kb": python_kb, "outside_python_kb": rss_kb - python_kb, **result}


async def bare_breakdown(count: int = 1000) -> dict[str, float]:
    """The same measure for a bare waiting workflow (bench/bare_workflow.py): the floor the
    Temporal SDK itself sets for a cached run, whatever runs in it."""
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    from bench.bare_workflow import BareWaiting
    from journeys.devstack.binaries import temporal_cli
    from journeys.storage.temporal import DATA_CONVERTER

    env = await WorkflowEnvironment.start_local(data_converter=DATA_CONVERTER, dev_server_existing_path=temporal_cli())
    try:
        async with Worker(
            env.client, task_queue="bare-waiting", workflows=[BareWaiting], max_cached_workflows=3 * count + 200,
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):

            async def wave(prefix: str) -> None:
                handles = [
                    await env.client.start_workflow(
                        BareWaiting.run, "x", id=f"{prefix}{i}", task_queue="bare-waiting", start_signal="go", start_signal_args=["x"]
                    )
                    for i in range(count)
                ]
                deadline = time.monotonic() + 300
                for handle in handles:  # waiting once its first workflow task has completed
                    while (await handle.describe()).raw_description.workflow_execution_info.history_length < 5:
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"{handle.id} did not reach its wait")
                        await asyncio.sleep(0.01)
                gc.collect()

            figures = await _measured(wave, count)
    finally:
        await env.shutdown()
    return figures


if __name__ == "__main__":
    print_and_exit({"journey": breakdown, "bare": bare_breakdown}[sys.argv[1]])
