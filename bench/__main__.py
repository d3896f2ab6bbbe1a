"""``make bench``: how fast an event becomes an email, next to bare Temporal on the same server.

Starts what ``journeys dev`` starts, each in its own process as in development: a Temporal
dev server on a SQLite file with WAL, the worker, the API (uvicorn) and the SMTP mail
catcher; plus a worker for a bare workflow (bench/bare_workflow.py). Then it measures:

1. events accepted per second through POST /v1/events, one per request and in batches;
2. end-to-end emails per second at saturation (signup event -> welcome email caught by SMTP);
3. p50/p99 event-to-email latency at a steady 10 events/s;
4. the same figures for the bare workflow (signal-with-start -> one no-op activity -> done),

and prints them with the ratios. Everything runs on loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from journeys.contracts import search_attributes
from journeys.devstack.binaries import temporal_cli
from journeys.storage.migrate import upgrade
from journeys.storage.temporal import DATA_CONVERTER
from bench.memory import park_customers
from bench.time_skipping import thirty_day_journey_seconds

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key-0123456789"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class Stack:
    home: Path
    api_url: str
    temporal_address: str
    client: Client
    bare_queue: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def mail_dir(self) -> Path:
        return self.home / "mail"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


async def wait_http(url: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while time.monotonic() < end:
            try:
                if (await http.get(url)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not come up")


async def start_stack(home: Path, waiting: int = 0) -> tuple[WorkflowEnvironment, Stack]:
    log("starting Temporal dev server (SQLite file, WAL)")
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_cli(),
        dev_server_database_filename=str(home / "temporal.db"),
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"],
        search_attributes=search_attributes.ALL,
    )
    address = env.client.service_client.config.target_host
    database_url = f"sqlite:///{home / 'journeys.db'}"
    upgrade(database_url)
    smtp_port, api_port = free_port(), free_port()
    child_env = {
        **os.environ,
        "JOURNEYS_HOME": str(home),
        "JOURNEYS_DATABASE_URL": database_url,
        "JOURNEYS_TEMPORAL_ADDRESS": address,
        "JOURNEYS_API_KEY": API_KEY,
        "JOURNEYS_SMTP_PORT": str(smtp_port),
        "JOURNEYS_JOURNEY_PACKAGES": "workflows.journeys,bench.journeys",
        # Keep every waiting journey in the worker's cache, so the memory figure is the
        # cost of a cached journey (the default, 1,000, caps memory instead).
        "JOURNEYS_WORKER_MAX_CACHED_WORKFLOWS": str(max(1000, waiting + 1000)),
        "PYTHONUNBUFFERED": "1",
    }
    journeys = [sys.executable, "-m", "journeys.cli"]
    logs = home / "logs"
    logs.mkdir()
    bare_queue = f"bare-{uuid.uuid4().hex[:6]}"
    commands = {
        "mailcatcher": [*journeys, "mailcatcher", "--port", str(smtp_port)],
        "worker": [*journeys, "worker"],
        "api": [*journeys, "api", "--port", str(api_port)],
        "bare-worker": [sys.executable, "-m", "bench.bare_worker", address, bare_queue],
    }
    stack = Stack(home, f"http://127.0.0.1:{api_port}", address, env.client, bare_queue)
    for name, command in commands.items():
        out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        stack.processes[name] = subprocess.Popen(command, env=child_env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    await wait_http(f"{stack.api_url}/healthz")
    log(f"stack up: API {stack.api_url}, Temporal {address}, SMTP :{smtp_port}, logs in {logs}")
    return env, stack


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to see who the bottleneck is."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def stack_cpu(stack: Stack) -> dict[str, float]:
    return {name: cpu_seconds(p.pid) for name, p in stack.processes.items()}


def stop_stack(stack: Stack) -> None:
    for process in stack.processes.values():
        process.send_signal(signal.SIGTERM)
    for process in stack.processes.values():
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


# ----- measurements ----------------------------------------------------------------------


async def create_customers(http: httpx.AsyncClient, ids: list[str]) -> None:
    sem = asyncio.Semaphore(16)

    async def one(customer_id: str) -> None:
        async with sem:
            r = await http.put(f"/v1/customers/{customer_id}", json={"email": f"{customer_id}@example.com", "attributes": {"first_name": customer_id}})
            r.raise_for_status()

    await asyncio.gather(*[one(c) for c in ids])


async def ingest_single(http: httpx.AsyncClient, count: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)
    run = uuid.uuid4().hex[:6]

    async def one(i: int) -> None:
        async with sem:
            r = await http.post("/v1/events", json={"id": f"s-{run}-{i}", "type": "bench.ping", "customer_id": f"p{i % 100}"})
            assert r.status_code == 202, r.text

    started = time.perf_counter()
    await asyncio.gather(*[one(i) for i in range(count)])
    return count / (time.perf_counter() - started)


async def ingest_batches(http: httpx.AsyncClient, batches: int, size: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)
    run = uuid.uuid4().hex[:6]

    async def one(b: int) -> None:
        events = [{"id": f"b-{run}-{b}-{i}", "type": "bench.ping", "customer_id": f"p{i % 100}"} for i in range(size)]
        async with sem:
            r = await http.post("/v1/events", json={"events": events})
            assert r.status_code == 202 and r.json()["accepted"] == size, r.text

    started = time.perf_counter()
    await asyncio.gather(*[one(b) for b in range(batches)])
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
            await asyncio.sleep(0.01)
        got = self.arrivals()
        missing = len(customers - got.keys())
        raise TimeoutError(f"{missing} of {len(customers)} emails did not arrive within {timeout}s")


async def e2e_saturation(http: httpx.AsyncClient, watcher: MailWatcher, customers: list[str]) -> float:
    sem = asyncio.Semaphore(32)

    async def one(c: str) -> None:
        async with sem:
            r = await http.post("/v1/events", json={"id": f"sat-{c}", "type": "user.signed_up", "customer_id": c})
            assert r.status_code == 202, r.text

    started = time.time()
    await asyncio.gather(*[one(c) for c in customers])
    arrivals = await watcher.wait_for(set(customers), timeout=300)
    return len(customers) / (max(arrivals.values()) - started)


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


async def e2e_latency(http: httpx.AsyncClient, watcher: MailWatcher, customers: list[str], rate: float) -> list[float]:
    async def fire(i: int) -> None:
        r = await http.post("/v1/events", json={"id": f"lat-{customers[i]}", "type": "user.signed_up", "customer_id": customers[i]})
        assert r.status_code == 202, r.text

    sent = await steady(rate, len(customers), fire)
    arrivals = await watcher.wait_for(set(customers), timeout=120)
    return [arrivals[c] - s for c, s in zip(customers, sent)]


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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="journeys-bench-"))
    env, stack = await start_stack(home, args.waiting)
    results: dict[str, Any] = {}
    try:
        async with httpx.AsyncClient(
            base_url=stack.api_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60,
            limits=httpx.Limits(max_connections=64),
        ) as http:
            watcher = MailWatcher(stack.mail_dir)
            sat_customers = [f"sat{i}" for i in range(args.saturation)]
            lat_customers = [f"lat{i}" for i in range(int(args.rate * args.seconds))]
            log(f"creating {len(sat_customers) + len(lat_customers)} customers")
            await create_customers(http, sat_customers + lat_customers)

            log("warm-up")
            await create_customers(http, ["warm"])
            await http.post("/v1/events", json={"id": "warm", "type": "user.signed_up", "customer_id": "warm"})
            await watcher.wait_for({"warm"}, timeout=60)
            await bare_saturation(stack.client, stack.bare_queue, 10)

            log(f"ingest: {args.single} single events, {args.batches} batches of {args.batch_size}")
            results["ingest_single_per_s"] = await ingest_single(http, args.single, concurrency=16)
            results["ingest_batch_events_per_s"] = await ingest_batches(http, args.batches, args.batch_size, concurrency=4)

            log(f"bare Temporal saturation: {args.saturation} workflows")
            bare_before = stack_cpu(stack)["bare-worker"]
            results["bare_per_s"] = await bare_saturation(stack.client, stack.bare_queue, args.saturation)
            bare_after = stack_cpu(stack)["bare-worker"]
            results["bare_worker_cpu_ms_per_workflow"] = round((bare_after - bare_before) * 1000 / args.saturation, 2)
            log(f"end-to-end saturation: {args.saturation} signups -> welcome emails")
            before = stack_cpu(stack)
            results["e2e_emails_per_s"] = await e2e_saturation(http, watcher, sat_customers)
            after = stack_cpu(stack)
            results["e2e_cpu_ms_per_email"] = {
                n: round((after[n] - before[n]) * 1000 / args.saturation, 2) for n in after if n != "bare-worker"
            }

            log(f"bare Temporal at a steady {args.rate}/s for {args.seconds}s")
            bare = await bare_latency(stack.client, stack.bare_queue, int(args.rate * args.seconds), args.rate)
            log(f"end-to-end at a steady {args.rate}/s for {args.seconds}s")
            e2e = await e2e_latency(http, watcher, lat_customers, args.rate)
            results["bare_p50_ms"], results["bare_p99_ms"] = pct(bare, 50) * 1000, pct(bare, 99) * 1000
            results["e2e_p50_ms"], results["e2e_p99_ms"] = pct(e2e, 50) * 1000, pct(e2e, 99) * 1000
            results["e2e_mean_ms"] = statistics.mean(e2e) * 1000
            results["throughput_ratio"] = results["e2e_emails_per_s"] / results["bare_per_s"]

            if args.waiting:
                log(f"memory: parking {args.waiting} customers in a waiting journey")
                results["memory"] = await park_customers(http, stack.client, stack.processes["worker"].pid, args.waiting)
    finally:
        stop_stack(stack)
        await env.shutdown()
        shutil.rmtree(home, ignore_errors=True)
    return results


def report(r: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        "",
        "Journeys benchmark: worker, API and mail catcher as separate processes; one Temporal dev server (SQLite, WAL)",
        f"  POST /v1/events, one event per request   {r['ingest_single_per_s']:8.0f} events/s",
        f"  POST /v1/events, batches of {args.batch_size:<5}        {r['ingest_batch_events_per_s']:8.0f} events/s",
        f"  end-to-end at saturation                 {r['e2e_emails_per_s']:8.1f} emails/s",
        f"  bare workflow at saturation              {r['bare_per_s']:8.1f} workflows/s",
        f"  throughput ratio (end-to-end / bare)     {r['throughput_ratio']:8.2f}   (aim >= 0.70)",
        f"  at a steady {args.rate:g}/s: end-to-end p50 {r['e2e_p50_ms']:6.0f} ms, p99 {r['e2e_p99_ms']:6.0f} ms   (aim p99 < 1000 ms)",
        f"  at a steady {args.rate:g}/s: bare       p50 {r['bare_p50_ms']:6.0f} ms, p99 {r['bare_p99_ms']:6.0f} ms",
        f"  latency ratio p50 {r['e2e_p50_ms'] / r['bare_p50_ms']:.2f}, p99 {r['e2e_p99_ms'] / r['bare_p99_ms']:.2f}",
        f"  30-day, 10-step journey on the time-skipping server: median {r['thirty_days']['median_s'] * 1000:.0f} ms, "
        f"max {r['thirty_days']['max_s'] * 1000:.0f} ms   (aim well under 1 s)",
        *(
            [
                f"  worker memory, {r['memory']['waiting']:.0f} customers waiting (all cached): "
                f"{r['memory']['rss_before_mb']:.0f} -> {r['memory']['rss_after_mb']:.0f} MB RSS, "
                f"{r['memory']['mb_per_1000_waiting']:.1f} MB per 1,000 waiting; "
                f"{r['memory']['journeys_started_per_s']:.0f} journeys started/s"
            ]
            if "memory" in r
            else []
        ),
        "  CPU per email at saturation (ms): "
        + ", ".join(f"{k} {v:.1f}" for k, v in r["e2e_cpu_ms_per_email"].items())
        + f"; bare worker {r['bare_worker_cpu_ms_per_workflow']:.1f} per workflow",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=1000, help="single-event requests (default 1000)")
    parser.add_argument("--batches", type=int, default=20, help="batch requests (default 20)")
    parser.add_argument("--batch-size", type=int, default=500, help="events per batch (default 500)")
    parser.add_argument("--saturation", type=int, default=300, help="workflows/emails at saturation (default 300)")
    parser.add_argument("--rate", type=float, default=10.0, help="steady rate, events/s (default 10)")
    parser.add_argument("--seconds", type=float, default=30.0, help="steady run length (default 30)")
    parser.add_argument("--waiting", type=int, default=10_000, help="customers parked for the memory figure (0: skip)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    log("time-skipping: a 30-day, 10-step journey")
    results["thirty_days"] = asyncio.run(thirty_day_journey_seconds())
    print(report(results, args), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
