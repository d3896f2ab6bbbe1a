"""ESP-reported opens and clicks: told apart from a person's by the rules our own tracking
uses, counted once, a scanner's burst taken back; test sends reach no journey."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from journeys.intake.email_feedback import record_email_events
from journeys.providers.email_events import BOUNCED, CLICKED, DELIVERED, OPENED
from journeys.storage.analytics_tables import JourneyStatRow, MessageEventRow
from journeys.storage.database import Database
from journeys.storage.tables import MessageRow
from tests.journeys.intake.test_email_feedback import (
    AT, SENT, add_message, events, everything, facts, feedback, history, outbox,
)

GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
IPHONE_MAIL = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"


async def opened_at(db: Database, message_id: str = "msg-1") -> datetime | None:
    async with db.session() as session:
        row = await session.get(MessageRow, message_id)
        assert row is not None
        return row.opened_at


@pytest.mark.parametrize(
    ("client", "detail"),
    [
        ({"user_agent": GMAIL_PROXY, "address": "66.249.84.1"}, "Gmail's image proxy"),
        ({"user_agent": IPHONE_MAIL, "address": "17.58.1.2"}, "Apple Mail Privacy Protection (Apple's 17.0.0.0/8 network)"),
        ({"user_agent": "Mozilla/5.0", "address": "198.51.100.3", "machine": "proxy", "detail": "a machine open, as SendGrid says"},
         "a machine open, as SendGrid says"),
        ({"address": "203.0.113.9", "machine": "proxy"}, "a machine, as sendgrid says"),
    ],
    ids=["gmail-proxy", "apple-network", "esp-flag", "esp-flag-alone"],
)
async def test_a_machine_open_the_esp_reports_is_in_the_timeline_but_neither_counted_nor_dispatched(
    db: Database, client: dict[str, Any], detail: str
) -> None:
    await add_message(db)
    result = await record_email_events(db, [feedback(OPENED, **client)], everything)
    assert result.accepted == [] and result.to_dispatch == []
    assert await events(db) == [] and await outbox(db) == []
    [fact] = await facts(db)
    assert (fact.type, fact.source, fact.machine, fact.detail) == (OPENED, "sendgrid", "proxy", detail)
    assert await opened_at(db) is None and await history(db) == [SENT], "not counted, not in the message's log"


async def test_a_person_the_esp_reports_counts_and_a_scanners_click_does_not(db: Database) -> None:
    await add_message(db)
    person = feedback(OPENED, event_id="o", user_agent=IPHONE_MAIL, address="203.0.113.9")
    scanner = feedback(CLICKED, event_id="c", url="https://shop.example/", user_agent="Mozilla/5.0 (compatible; Barracuda Sentinel)")
    flagged = feedback(CLICKED, event_id="b", url="https://shop.example/b", machine="scanner", detail="a bot, as Mailgun says")
    result = await record_email_events(db, [person, scanner, flagged], everything)
    assert [e.type for e in result.accepted] == [OPENED]
    assert sorted((f.type, f.machine, f.detail) for f in await facts(db)) == [
        (CLICKED, "scanner", "a bot, as Mailgun says"), (CLICKED, "scanner", "user agent of Barracuda"), (OPENED, None, None),
    ]
    assert await opened_at(db) == AT


async def test_a_burst_of_clicks_the_esp_reports_is_a_scanners_within_and_across_batches(db: Database) -> None:
    await add_message(db)
    clicks = [feedback(CLICKED, event_id=f"c{i}", url=f"https://shop.example/{i}", occurred_at=AT + timedelta(milliseconds=300 * i))
              for i in range(4)]
    first = await record_email_events(db, clicks[:1], everything)
    assert [e.type for e in first.accepted] == [CLICKED] and first.to_dispatch == [], "a click is held for the burst window"
    rest = await record_email_events(db, clicks[1:], everything)
    assert rest.accepted == [] and await events(db) == [] and await outbox(db) == []
    assert [f.machine for f in await facts(db)] == ["scanner"] * 4
    assert await history(db) == [SENT] and await opened_at(db) is None


# ----- parallel batches: locks in one order, no deadlock ---------------------------------------


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_parallel_webhook_batches_over_the_same_messages_all_go_through(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    """SendGrid posts batches in parallel, naming the same messages in any order: each batch
    locks them (and the suppressions and roll-up counters) in one order, so none waits on
    another in a circle (PostgreSQL would end one of them with a deadlock)."""
    ids = [f"m{i}" for i in range(8)]
    for i, message_id in enumerate(ids):
        await add_message(db, message_id, customer=f"c{i}", to_email=f"c{i}@example.com", journey=f"j{i % 3}")
    kinds = [DELIVERED, OPENED, CLICKED, BOUNCED]
    batches = []
    for n in range(20):
        order = ids if n % 2 else list(reversed(ids))
        batches.append([
            feedback(kinds[(n + i) % 4], event_id=f"{n}-{m}", message_id=m, email=f"c{i}@example.com", bounce="hard",
                     url=f"https://shop.example/{n}", occurred_at=AT + timedelta(seconds=n))
            for i, m in enumerate(order)
        ])
    with caplog.at_level("WARNING", logger="journeys.engagement"):
        results = await asyncio.gather(*[record_email_events(db, batch, everything) for batch in batches], return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert not [r for r in caplog.records if "trying again" in r.getMessage()], "the order alone keeps them apart"
    async with db.session() as session:
        assert len((await session.exec(select(MessageEventRow))).all()) == 20 * len(ids)


async def test_what_the_esp_reports_of_a_test_send_reaches_no_journey_and_counts_nowhere(db: Database) -> None:
    """A test send (POST /v1/templates/{name}/test-send) goes to an address of the operator's
    choosing: its delivery and opens are kept in its history only."""
    await add_message(db, journey=None)
    async with db.session() as session:
        row = await session.get(MessageRow, "msg-1")
        assert row is not None
        row.test = True
        await session.commit()
    result = await record_email_events(db, [feedback(DELIVERED), feedback(OPENED, event_id="pe-2", occurred_at=AT)], everything)
    assert result.accepted == [] and result.to_dispatch == []
    assert await events(db) == [] and await facts(db) == [] and await outbox(db) == []
    async with db.session() as session:
        assert (await session.exec(select(JourneyStatRow))).all() == []
    assert [h["status"] for h in await history(db)][-2:] == [DELIVERED, OPENED]
