"""Journey analytics over a million messages: how long one journey's figures take.

The roll-ups (journey_stats) of 1,000,000 messages over 30 days are written as the write
path would leave them: each synthetic message (its journey, step, A/B variant, hour, and
what happened to it) is counted into the same keys journeys/analytics/message_facts.py
and runs.py use, and a sample is checked against the real write path first, so the rows
are the ones production would have. Then ``report.figures`` (one journey, every step and
variant, significance) and ``report.headlines`` (every journey) are timed on SQLite and on
PostgreSQL (when reachable).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from journeys.analytics import report, runs
from journeys.analytics.message_facts import SENT, count_final, decision, record_message_event
from journeys.analytics.rollup import JOURNEY_LEVEL, hour_of
from journeys.contracts.email_event_types import CLICKED, DELIVERED, OPENED
from journeys.storage.analytics_tables import JourneyStatRow
from journeys.storage.database import Database
from journeys.storage.migrate import upgrade
from journeys.storage.tables import MessageRow

JOURNEYS = ["welcome", "abandoned_cart", "winback", "renewal"]
STEPS = ["send:first", "send:second", "send:third"]
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
# What happens to a message, with its odds: (metric, probability), independent draws.
AFTER_SEND = [("delivered", 0.95), ("opened", 0.35), ("clicked", 0.08), ("bounced", 0.02), ("complained", 0.001), ("unsubscribed", 0.004)]


def synthetic_rollups(messages: int, seed: int = 7) -> Counter[tuple[str, str, str, str, datetime, str]]:
    """The journey_stats counts of ``messages`` messages (and their entries), by key."""
    rng = random.Random(seed)
    counts: Counter[tuple[str, str, str, str, datetime, str]] = Counter()
    for n in range(messages // len(STEPS)):
        journey = JOURNEYS[n % len(JOURNEYS)]
        hour = hour_of(START + timedelta(seconds=rng.randrange(30 * 86400)))
        keys = [("", "")] + ([("subject", rng.choice("ab"))] if journey in ("welcome", "winback") else [])
        ended = rng.random()
        journey_metrics = ["entered", "completed" if ended < 0.6 else "exited:order.placed" if ended < 0.85 else ""]
        if rng.random() < 0.12:
            journey_metrics.append("converted:order.placed")
        for split, variant in keys:
            for metric in filter(None, journey_metrics):
                counts[(journey, JOURNEY_LEVEL, split, variant, hour, metric)] += 1
        for step in STEPS:
            if rng.random() < 0.07:
                metrics = [decision(rng.choice(["suppressed", "unsubscribed", "capped"]))]
            else:
                metrics = [SENT, *(name for name, odds in AFTER_SEND if rng.random() < odds)]
            for split, variant in keys:
                for metric in metrics:
                    counts[(journey, step, split, variant, hour, metric)] += 1
    return counts


async def _write_path_agrees(db: Database) -> None:
    """A few facts through the real write path land on the keys the synthesis uses."""
    await runs.record_entry(db, "welcome", "c", "bench-e1", "journey:welcome:c", START)
    await runs.record_split(db, "welcome", "c", "bench-e1", "subject", "a", START)
    row = MessageRow(
        id=uuid.uuid4().hex, idempotency_key="journey:welcome:c/bench-e1/send:first", customer_id="c", journey="welcome",
        step="send:first", template="t", status="sent", entry_id="bench-e1", created_at=START, updated_at=START, counted_at=START,
    )
    async with db.session() as session:
        session.add(row)
        await session.commit()
        await count_final(db, session, row, "sent", START)
        for i, kind in enumerate((DELIVERED, OPENED, CLICKED)):
            await record_message_event(db, session, row, event_id=f"bench-{row.id}-{i}", type=kind, source="bench", occurred_at=START)
        await session.commit()
    figures = await report.figures(db, "welcome", START, START + timedelta(hours=1), min_sample=1)
    step = figures.steps[0]
    assert (figures.entered, step.sent, step.delivered, step.opened, step.clicked) == (1, 1, 1, 1, 1), figures
    assert figures.splits[0].variants[0].steps[0].clicked == 1
    async with db.session() as session:
        await session.exec(JourneyStatRow.__table__.delete())  # type: ignore[attr-defined,call-overload]
        await session.commit()


async def _fill(db: Database, counts: Counter[tuple[str, str, str, str, datetime, str]]) -> None:
    rows = [
        {"journey": j, "step": s, "split": sp, "variant": v, "hour": h, "metric": m, "count": n}
        for (j, s, sp, v, h, m), n in counts.items()
    ]
    async with db.session() as session:
        for start in range(0, len(rows), 5000):
            await session.exec(insert(JourneyStatRow).values(rows[start : start + 5000]))  # type: ignore[call-overload]
        await session.commit()


async def _timed(call: Any, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        await call()
        times.append(time.perf_counter() - began)
    return statistics.median(times[1:]) * 1000  # the first warms the caches


async def measure(database_url: str, counts: Counter[tuple[str, str, str, str, datetime, str]]) -> dict[str, float]:
    upgrade(database_url)
    db = Database(database_url)
    try:
        await _write_path_agrees(db)
        await _fill(db, counts)
        month_end = START + timedelta(days=30)
        one = await _timed(lambda: report.figures(db, "welcome", START, month_end, min_sample=100))
        week = await _timed(lambda: report.figures(db, "welcome", START + timedelta(days=7), START + timedelta(days=14), min_sample=100))
        every = await _timed(lambda: report.headlines(db, JOURNEYS, None, None))
        check = await report.figures(db, "welcome", None, None, min_sample=100)
        total_sent = sum(n for (j, s, sp, _, _, m), n in counts.items() if j == "welcome" and sp == "" and m == SENT and s)
        assert sum(step.sent for step in check.steps) == total_sent, "the figures add up to the roll-ups"
        return {"one_journey_month_ms": one, "one_journey_week_ms": week, "all_journeys_ms": every}
    finally:
        await db.dispose()


async def analytics_figures(postgres_url: str | None, messages: int = 1_000_000) -> dict[str, Any]:
    counts = synthetic_rollups(messages)
    results: dict[str, Any] = {"messages": messages, "rollup_rows": len(counts)}
    with tempfile.TemporaryDirectory(prefix="journeys-bench-analytics-") as home:
        results["sqlite"] = await measure(f"sqlite:///{Path(home) / 'analytics.db'}", counts)
    if postgres_url:
        results["postgresql"] = await _on_postgres(postgres_url, counts)
    return results


async def _on_postgres(url: str, counts: Counter[tuple[str, str, str, str, datetime, str]]) -> dict[str, float] | None:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError:
        return None
    try:
        sep = "&" if "?" in url else "?"
        return await measure(f"{url}{sep}options=-csearch_path%3D{schema}", counts)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
