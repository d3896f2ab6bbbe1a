"""The load `make bench` puts on the stack: events in, emails out, and the bare workflow beside it."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from bench.raw_http import RawClient




async def create_customers(http: httpx.AsyncClient, ids: list[str]) -> None:
    sem = asyncio.Semaphore(16)

    async def one(customer_id: str) -> None:
        async with sem:
            r = await http.put(f"/v1/customers/{customer_id}", json={"email": f"{customer_id}@example.com", "attributes": {"first_name": customer_id}})
            r.raise_for_status()

    await asyncio.gather(*[one(c) for c in ids])


async def ingest_single(api_url: str, api_key: str, count: int, concurrency: int) -> float:
    """Single-event requests from ``concurrency`` clients at once, each answered 202 (stored)."""
    run = uuid.uuid4().hex[:6]
    bodies = [json.dumps({"id": f"s-{run}-{i}", "type": "bench.ping", "customer_id": f"p{i % 100}"}).encode() for i in range(count)]
    async with RawClient(api_url, api_key, concurrency) as client:
        sem = asyncio.Semaphore(concurrency)

        async def one(body: bytes) -> None:
            async with sem:
                status, answer = await client.post_json("/v1/events", body)
                assert status == 202, answer

        started = time.perf_counter()
        await asyncio.gather(*[one(b) for b in bodies])
        return count / (time.perf_counter() - started)


async def ingest_batches(api_url: str, api_key: str, batches: int, size: int, concurrency: int) -> float:
    """Batches of ``size`` events from ``concurrency`` clients at once, each answered 202 with
    every event accepted. Bodies are encoded before the clock starts and sent by the lean
    client: httpx encoding 500 events and reading the answer, on the same two cores, took
    CPU from the API it measures."""
    run = uuid.uuid4().hex[:6]
    bodies = [
        json.dumps({"events": [{"id": f"b-{run}-{b}-{i}", "type": "bench.ping", "customer_id": f"p{i % 100}"} for i in range(size)]}).encode()
        for b in range(batches)
    ]
    async with RawClient(api_url, api_key, concurrency) as client:
        sem = asyncio.Semaphore(concurrency)

        async def one(body: bytes) -> None:
            async with sem:
                status, answer = await client.post_json("/v1/events", body)
                assert status == 202 and json.loads(answer)["accepted"] == size, answer

        started = time.perf_counter()
        await asyncio.gather(*[one(b) for b in bodies])
        return batches * size / (time.perf_counter() - started)


class MailWatcher:
    """Notes when each customer's email lands in the catcher's directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.seen: dict[str, float] = {}  # file name -> arrival (wall clock, from the file name)
        self.to: dict[str, str] = {}

    def scan(self) -> None:
        if not self.directory.is_dir():
            return
        for path in self.directory.glob("*.eml"):
            if path.name in self.seen:
                continue
            stamp = path.name.split("-", 1)[0]  # written by the catcher at receipt, UTC
            arrived = datetime.strptime(stamp + "+0000", "%Y%m%dT%H%M%S.%f%z").timestamp()
            self.seen[path.name] = arrived
            for line in path.read_text(errors="replace").splitlines():
                if line.lower().startswith("to:"):
                    self.to[path.name] = line.split(":", 1)[1].strip().split("@")[0]
                    break

    def arrivals(self) -> dict[str, float]:
        return {self.to[name]: t for name, t in self.seen.items() if name in self.to}

    async def wait_for(self, customers: set[str], timeout: float) -> dict[str, float]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.scan()
            got = self.arrivals()
            if customers <= got.keys():
                return {c: got[c] for c in customers}
            # Arrival times come from the catcher's file names, not from when they are seen:
            # looking less often changes no figure and leaves the two cores to the stack.
            await asyncio.sleep(0.2)
        got = self.arrivals()
        missing = len(customers - got.keys())
        raise TimeoutError(f"{missing} of {len(customers)} emails did not arrive within {timeout}s")


async def e2e_saturation(api_url: str, api_key: str, watcher: MailWatcher, customers: list[str]) -> float:
    """Signups from 32 clients at once (the lean client: the load is not what is measured)."""
    sem = asyncio.Semaphore(32)

    async with RawClient(api_url, api_key, 32) as client:

        async def one(c: str) -> None:
            async with sem:
                status, answer = await client.post_json("/v1/events", _signup(f"sat-{c}", c))
                assert status == 202, answer

        started = time.time()
        await asyncio.gather(*[one(c) for c in customers])
    arrivals = await watcher.wait_for(set(customers), timeout=300)
    return len(customers) / (max(arrivals.values()) - started)


def _signup(event_id: str, customer_id: str) -> bytes:
    return json.dumps({"id": event_id, "type": "user.signed_up", "customer_id": customer_id}).encode()


async def steady(rate: float, count: int, fire: Callable[[int], Coroutine[Any, Any, None]]) -> list[float]:
    """Call ``fire(i)`` at a steady ``rate`` per second; returns each call's scheduled send time."""
    sent: list[float] = []
    tasks: list[asyncio.Task[None]] = []
    t0 = time.time() + 0.2
    for i in range(count):
        delay = t0 + i / rate - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(time.time())
        tasks.append(asyncio.create_task(fire(i)))
    await asyncio.gather(*tasks)
    return sent


async def e2e_latency(
    api_url: str, api_key: str, watcher: MailWatcher, customers: list[str], rate: float
) -> tuple[list[float], list[float], dict[str, float]]:
    """Signups at a steady ``rate``: seconds from each request's start to its email in the
    catcher (the lean client: httpx alone adds about 4 ms to a request here); also each
    request's send time and when its 202 came (bench/stages.py)."""
    answered: dict[str, float] = {}
    async with RawClient(api_url, api_key, 8) as client:

        async def fire(i: int) -> None:
            status, answer = await client.post_json("/v1/events", _signup(f"lat-{customers[i]}", customers[i]))
            assert status == 202, answer
            answered[customers[i]] = time.time()

        sent = await steady(rate, len(customers), fire)
    arrivals = await watcher.wait_for(set(customers), timeout=120)
    return [arrivals[c] - s for c, s in zip(customers, sent)], sent, answered


async def bare_start(client: Client, queue: str, wid: str) -> Any:
    return await client.start_workflow(
        "bare", wid, id=wid, task_queue=queue, start_signal="go", start_signal_args=[wid]
    )


async def bare_saturation(client: Client, queue: str, count: int) -> float:
    sem = asyncio.Semaphore(32)
    run = uuid.uuid4().hex[:6]

    async def one(i: int) -> None:
        async with sem:
            handle = await bare_start(client, queue, f"bare-sat-{run}-{i}")
        await handle.result()

    started = time.perf_counter()
    await asyncio.gather(*[one(i) for i in range(count)])
    return count / (time.perf_counter() - started)


async def bare_latency(client: Client, queue: str, count: int, rate: float) -> list[float]:
    run = uuid.uuid4().hex[:6]
    latencies: list[float] = []

    async def fire(i: int) -> None:
        started = time.time()
        handle = await bare_start(client, queue, f"bare-lat-{run}-{i}")
        await handle.result()
        latencies.append(time.time() - started)

    await steady(rate, count, fire)
    return latencies


# ----- the run ----------------------------------------------------------------------------
