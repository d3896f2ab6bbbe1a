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
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.analytics import analytics_figures
from bench.ceiling import storage_ceiling_rows_per_s
from bench.memory import park_customers, resume_latencies
from bench.own_process import measured_apart
from bench.stages import stage_breakdown
from journeys.storage.settings import Settings

from bench.load import (
    MailWatcher,
    bare_latency,
    bare_saturation,
    create_customers,
    e2e_latency,
    e2e_saturation,
    ingest_batches,
    ingest_single,
)
from bench.stack import API_KEY, log, pct, restart_worker, stack_cpu, start_stack, stop_stack


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
            results["ingest_single_per_s"] = await ingest_single(stack.api_url, API_KEY, args.single, concurrency=16)
            results["ingest_batch_events_per_s"] = await ingest_batches(stack.api_url, API_KEY, args.batches, args.batch_size, concurrency=4)
            results["storage_ceiling_rows_per_s"] = storage_ceiling_rows_per_s(args.batches, args.batch_size)

            log(f"bare Temporal saturation: {args.saturation} workflows")
            bare_before = stack_cpu(stack)["bare-worker"]
            results["bare_per_s"] = await bare_saturation(stack.client, stack.bare_queue, args.saturation)
            bare_after = stack_cpu(stack)["bare-worker"]
            results["bare_worker_cpu_ms_per_workflow"] = round((bare_after - bare_before) * 1000 / args.saturation, 2)
            log(f"end-to-end saturation: {args.saturation} signups -> welcome emails")
            before = stack_cpu(stack)
            results["e2e_emails_per_s"] = await e2e_saturation(stack.api_url, API_KEY, watcher, sat_customers)
            after = stack_cpu(stack)
            results["e2e_cpu_ms_per_email"] = {
                n: round((after[n] - before[n]) * 1000 / args.saturation, 2) for n in after if n != "bare-worker"
            }

            log(f"bare Temporal at a steady {args.rate}/s for {args.seconds}s")
            bare = await bare_latency(stack.client, stack.bare_queue, int(args.rate * args.seconds), args.rate)
            log(f"end-to-end at a steady {args.rate}/s for {args.seconds}s")
            e2e, sent, answered = await e2e_latency(stack.api_url, API_KEY, watcher, lat_customers, args.rate)
            results["stages"] = await stage_breakdown(stack.client, home / "journeys.db", lat_customers, sent, answered)
            results["bare_p50_ms"], results["bare_p99_ms"] = pct(bare, 50) * 1000, pct(bare, 99) * 1000
            results["e2e_p50_ms"], results["e2e_p99_ms"] = pct(e2e, 50) * 1000, pct(e2e, 99) * 1000
            results["e2e_mean_ms"] = statistics.mean(e2e) * 1000
            results["throughput_ratio"] = results["e2e_emails_per_s"] / results["bare_per_s"]

            if args.waiting:
                log(f"memory: parking {args.waiting} customers in a waiting journey, all cached")
                results["memory"] = await park_customers(http, home / "journeys.db", stack.processes["worker"].pid, args.waiting)
            if args.evicted:
                log(f"memory: a new worker with the default cache; parking {args.evicted} more customers")
                restart_worker(stack, JOURNEYS_WORKER_MAX_CACHED_WORKFLOWS=str(Settings.model_fields["worker_max_cached_workflows"].default))
                results["evicted"] = await resume_latencies(
                    http, stack.client, home / "journeys.db", stack.processes["worker"].pid, args.evicted
                )
    finally:
        stop_stack(stack)
        await env.shutdown()
        shutil.rmtree(home, ignore_errors=True)
    return results


def report(r: dict[str, Any], args: argparse.Namespace) -> str:
    ceiling_share = r["ingest_batch_events_per_s"] / r["storage_ceiling_rows_per_s"]
    lines = [
        "",
        "Journeys benchmark: worker, API and mail catcher as separate processes; one Temporal dev server (SQLite, WAL)",
        f"  POST /v1/events, one event per request   {r['ingest_single_per_s']:8.0f} events/s   (aim >= 1000, 16 clients)",
        f"  POST /v1/events, batches of {args.batch_size:<5}        {r['ingest_batch_events_per_s']:8.0f} events/s",
        f"  the database itself, same rows, {args.batch_size}-row transactions {r['storage_ceiling_rows_per_s']:8.0f} rows/s;"
        f" batches at {ceiling_share:.2f} of it   (aim >= 0.90)",
        f"  end-to-end at saturation                 {r['e2e_emails_per_s']:8.1f} emails/s",
        f"  bare workflow at saturation              {r['bare_per_s']:8.1f} workflows/s",
        f"  throughput ratio (end-to-end / bare)     {r['throughput_ratio']:8.2f}   (aim >= 1.00)",
        f"  at a steady {args.rate:g}/s: end-to-end p50 {r['e2e_p50_ms']:6.0f} ms, p99 {r['e2e_p99_ms']:6.0f} ms   (aim p99 <= 50 ms)",
        *_stage_lines(r.get("stages", {})),
        f"  at a steady {args.rate:g}/s: bare       p50 {r['bare_p50_ms']:6.0f} ms, p99 {r['bare_p99_ms']:6.0f} ms",
        f"  30-day, 10-step journey on the time-skipping server (the test kit, sandboxed): median {r['thirty_days']['median_s'] * 1000:.0f} ms, "
        f"max {r['thirty_days']['max_s'] * 1000:.0f} ms   (aim median <= 50 ms)",
        f"    the same journey unsandboxed (JOURNEYS_WORKFLOW_SANDBOX=false, as production runs): median "
        f"{r['thirty_days']['unsandboxed_median_s'] * 1000:.0f} ms",
        f"  the same shape as a bare workflow (five no-op activities, five sleeps): median "
        f"{r['thirty_days']['bare_median_s'] * 1000:.0f} ms",
        *_memory_lines(r),
        *_analytics_lines(r.get("analytics")),
        "  CPU per email at saturation (ms): "
        + ", ".join(f"{k} {v:.1f}" for k, v in r["e2e_cpu_ms_per_email"].items())
        + f"; bare worker {r['bare_worker_cpu_ms_per_workflow']:.1f} per workflow",
        "",
    ]
    return "\n".join(lines)


def _stage_lines(stages: dict[str, dict[str, float]]) -> list[str]:
    lines = ["    where each email's time went (ms)                      p50    p90    p99"] if stages else []
    for name, f in stages.items():
        lines.append(f"      {name:<50} {f['p50']:6.1f} {f['p90']:6.1f} {f['p99']:6.1f}")
    return lines


def _memory_lines(r: dict[str, Any]) -> list[str]:
    lines = []
    if "memory" in r:
        m = r["memory"]
        lines.append(
            f"  worker memory, {m['waiting']:,.0f} customers waiting, all cached: {m['rss_before_mb']:.0f} -> {m['rss_after_mb']:.0f} MB RSS,"
            f" {m['kb_per_cached_journey']:.0f} KB per cached journey   (aim <= 30 KB); {m['journeys_started_per_s']:.0f} journeys started/s"
        )
    if "breakdown" in r:
        b = r["breakdown"]
        owners = ", ".join(f"{name} {kb:.1f}" for name, kb in b.items() if name not in ("rss_kb", "python_heap_kb", "outside_python_kb"))
        lines.append(
            f"    one cached run, in KB: RSS {b['rss_kb']:.0f} = Python heap {b['python_heap_kb']:.0f} ({owners})"
            f" + outside Python (Temporal's core, the allocator) {b['outside_python_kb']:.0f}"
        )
    if "bare_breakdown" in r:
        f = r["bare_breakdown"]
        lines.append(
            f"    a bare waiting workflow, the same way: RSS {f['rss_kb']:.0f} = Python heap {f['python_heap_kb']:.0f}"
            f" + outside Python {f['outside_python_kb']:.0f}   (what the SDK itself keeps: the floor under any journey)"
        )
    if "evicted" in r:
        e = r["evicted"]
        lines.append(
            f"  {e['waiting'] + r.get('memory', {}).get('waiting', 0):,.0f} customers waiting, default cache: worker RSS {e['rss_mb']:.0f} MB   (aim <= 400 MB);"
            f" an evicted journey resumes on its event in p50 {e['resume_p50_ms']:.0f} ms, p99 {e['resume_p99_ms']:.0f} ms   (aim p99 <= 250 ms)"
        )
        if "quiet_after_s" in e:
            lines.append(f"    (resumes sent once the machine was idle, {e['quiet_after_s']:.0f} s after the last journey entered its wait)")
    return lines


def _analytics_lines(figures: dict[str, Any] | None) -> list[str]:
    if not figures:
        return []
    lines = [f"  analytics over {figures['messages']:,} messages ({figures['rollup_rows']:,} roll-up rows):"]
    for backend in ("sqlite", "postgresql"):
        took = figures.get(backend)
        if took:
            lines.append(
                f"    {backend:<10} one journey, a month {took['one_journey_month_ms']:5.0f} ms, a week {took['one_journey_week_ms']:4.0f} ms; "
                f"every journey {took['all_journeys_ms']:4.0f} ms   (aim < 200 ms)"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=1000, help="single-event requests (default 1000)")
    parser.add_argument("--batches", type=int, default=100, help="batch requests (default 100)")
    parser.add_argument("--batch-size", type=int, default=500, help="events per batch (default 500)")
    parser.add_argument("--saturation", type=int, default=300, help="workflows/emails at saturation (default 300)")
    parser.add_argument("--rate", type=float, default=10.0, help="steady rate, events/s (default 10)")
    parser.add_argument("--seconds", type=float, default=30.0, help="steady run length (default 30)")
    parser.add_argument("--waiting", type=int, default=10_000, help="customers parked, all cached, for the memory figure (0: skip)")
    parser.add_argument("--evicted", type=int, default=100_000, help="customers parked under the default cache, for RSS and resume latency (0: skip)")
    parser.add_argument("--analytics-messages", type=int, default=1_000_000, help="messages behind the analytics figures (0: skip)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    if args.waiting:
        log("memory: what one cached run holds, by owner")
        results["breakdown"] = measured_apart("bench.memory", "journey")
        log("memory: the same for a bare waiting workflow (the SDK's own floor)")
        results["bare_breakdown"] = measured_apart("bench.memory", "bare")
    log("time-skipping: a 30-day, 10-step journey, in a process of its own as a developer's test runs")
    results["thirty_days"] = measured_apart("bench.time_skipping")
    if args.analytics_messages:
        log(f"analytics: roll-ups of {args.analytics_messages:,} messages, figures read back")
        postgres = os.environ.get("JOURNEYS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
        results["analytics"] = asyncio.run(analytics_figures(postgres, args.analytics_messages))
    print(report(results, args), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
