"""A journey's figures from its facts, on SQLite and PostgreSQL: each fact counted once,
in its cohort, overall and per A/B variant; machines left out; time ranges by the hour."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from journeys.analytics import runs
from journeys.analytics.message_facts import count_final, record_message_event
from journeys.analytics.report import figures, headlines
from journeys.contracts.email_event_types import BOUNCED, CLICKED, DELIVERED, OPENED
from journeys.storage.database import Database
from journeys.storage.tables import MessageRow, utcnow


async def message(db: Database, message_id: str, entry_id: str, status: str) -> MessageRow:
    now = utcnow()
    row = MessageRow(
        id=message_id, idempotency_key=f"journey:welcome:c/{entry_id}/send:welcome", customer_id="c", journey="welcome",
        step="send:welcome", template="welcome", status=status, entry_id=entry_id, created_at=now, updated_at=now, counted_at=now,
    )
    async with db.session() as session:
        session.add(row)
        await session.commit()
        await count_final(db, session, row, status, now)
        await session.commit()
    return row


async def event(db: Database, row: MessageRow, event_id: str, type: str, machine: str | None = None) -> bool:
    async with db.session() as session:
        stored = await record_message_event(
            db, session, row, event_id=event_id, type=type, source="test", occurred_at=utcnow(), machine=machine
        )
        await session.commit()
    return stored


async def scenario(db: Database) -> None:
    for entry in ("e1", "e2", "e3"):
        assert await runs.record_entry(db, "welcome", "c", entry, f"journey:welcome:{entry}")
    assert not await runs.record_entry(db, "welcome", "c", "e1", "journey:welcome:e1"), "a retried activity"
    for entry, variant in (("e1", "a"), ("e2", "b"), ("e3", "a"), ("e1", "a")):
        await runs.record_split(db, "welcome", "c", entry, "subject", variant)
    m1 = await message(db, "m1", "e1", "sent")
    m2 = await message(db, "m2", "e2", "sent")
    await message(db, "m3", "e3", "suppressed")
    assert await event(db, m1, "x1", DELIVERED)
    assert await event(db, m1, "x2", OPENED, machine="proxy"), "recorded, not counted"
    assert await event(db, m1, "x3", CLICKED)  # a click is an open too
    assert await event(db, m1, "x4", CLICKED), "a second click is on record"
    assert not await event(db, m1, "x4", CLICKED), "the same webhook twice is stored once"
    assert await event(db, m2, "x5", OPENED)
    assert await event(db, m2, "x6", BOUNCED)
    await runs.record_conversion(db, "welcome", "c", "e1", "purchase", "buy-1", {"subject": "a"})
    await runs.record_conversion(db, "welcome", "c", "e1", "purchase", "buy-2", {"subject": "a"})  # once per entry
    await runs.record_outcome(db, "welcome", "c", "e1", "journey:welcome:e1", "completed", None)
    await runs.record_outcome(db, "welcome", "c", "e1", "journey:welcome:e1", "completed", None)
    await runs.record_outcome(db, "welcome", "c", "e2", "journey:welcome:e2", "exited", "user.deleted")


async def test_the_figures_of_a_scripted_journey(db: Database) -> None:
    await scenario(db)
    report = await figures(db, "welcome", None, None, min_sample=1)
    assert (report.entered, report.completed, report.exited, report.converted, report.active) == (
        3, 1, {"user.deleted": 1}, {"purchase": 1}, 1
    )
    assert report.conversion_rate == {"purchase": 0.3333}
    [step] = report.steps
    assert (step.step, step.sent, step.not_sent) == ("send:welcome", 2, {"suppressed": 1})
    assert (step.delivered, step.opened, step.clicked, step.bounced, step.complained) == (1, 2, 1, 1, 0)
    assert step.rates["opened"] == 1.0 and step.rates["clicked"] == 0.5 and step.rates["bounced"] == 0.5
    [split] = report.splits
    a, b = split.variants
    assert (a.variant, a.entered, a.completed, a.converted, a.active) == ("a", 2, 1, {"purchase": 1}, 1)
    assert (a.steps[0].sent, a.steps[0].not_sent, a.steps[0].opened, a.steps[0].clicked) == (1, {"suppressed": 1}, 1, 1)
    assert (b.variant, b.entered, b.exited, b.steps[0].sent, b.steps[0].opened, b.steps[0].bounced) == ("b", 1, {"user.deleted": 1}, 1, 1, 1)
    [significance] = split.significance
    assert (significance.control, significance.variant, significance.verdict) == ("a", "b", "not enough data yet")


async def test_a_range_counts_whole_hours_of_entries(db: Database) -> None:
    await scenario(db)
    now = datetime.now(timezone.utc)
    inside = await figures(db, "welcome", now - timedelta(minutes=1), now + timedelta(minutes=1), min_sample=1)
    assert inside.entered == 3 and inside.since is not None and inside.since.minute == 0
    later = await figures(db, "welcome", now + timedelta(hours=2), None, min_sample=1)
    assert (later.entered, later.steps, later.splits) == (0, [], [])
    [headline] = (await headlines(db, ["welcome"], None, None)).values()
    assert headline.entered == 3 and headline.steps[0].sent == 2


async def test_a_run_that_ends_before_its_entry_is_recorded_counts_once(db: Database) -> None:
    await runs.record_outcome(db, "quick", "c", "q1", "journey:quick:c", "completed", None)
    assert not await runs.record_entry(db, "quick", "c", "q1", "journey:quick:c"), "entered by its outcome"
    report = await figures(db, "quick", None, None, min_sample=1)
    assert (report.entered, report.completed, report.active) == (1, 1, 0)


async def test_concurrent_counters_lose_nothing(db: Database) -> None:
    import asyncio

    await asyncio.gather(*[runs.record_entry(db, "busy", "c", f"b{i}", f"journey:busy:b{i}") for i in range(40)])
    assert (await figures(db, "busy", None, None, min_sample=1)).entered == 40
