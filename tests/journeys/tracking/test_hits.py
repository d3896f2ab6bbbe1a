"""Hits recorded: every one for the timeline, the first a person makes as a journey event."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from sqlmodel import col, select

from journeys.intake.email_feedback import record_email_events
from journeys.intake.engagement import journey_event_id
from journeys.providers.email_events import EmailEvent
from journeys.storage.analytics_tables import JourneyStatRow, MessageEventRow
from journeys.storage.database import Database
from journeys.storage.tables import DispatchRow, EventRow, MessageRow, utcnow
from journeys.tracking.hits import Hit, record_hit
from journeys.tracking.machines import Rules
from journeys.tracking.tokens import TrackingClaims

SENT = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
LINKS = ["https://shop.example/cart?id=\"7\"&n=Zoë", "https://shop.example/help"]


def everything(_: str) -> bool:
    return True


def nothing(_: str) -> bool:
    return False


async def add_message(db: Database, id: str = "msg-1", *, sent_at: datetime | None = SENT, links: list[str] = LINKS) -> None:
    async with db.session() as session:
        session.add(
            MessageRow(
                id=id, idempotency_key=f"k-{id}", customer_id="ann", journey="promo", step="send:promo", template="promo",
                category="marketing", topic="offers", to_email="ann@example.com", status="sent", history=[],
                links=links, created_at=SENT, updated_at=SENT, claimed_at=SENT, sent_at=sent_at,
            )
        )
        await session.commit()


def click(link: int = 0, message: str = "msg-1") -> TrackingClaims:
    return TrackingClaims(message, "click", link)


def opening(message: str = "msg-1") -> TrackingClaims:
    return TrackingClaims(message, "open", None)


def at(minutes: float, agent: str = CHROME, address: str | None = "203.0.113.7") -> Hit:
    return Hit(user_agent=agent, address=address, at=SENT + timedelta(minutes=minutes))


async def facts(db: Database) -> list[MessageEventRow]:
    async with db.session() as session:
        return list((await session.exec(select(MessageEventRow).order_by(col(MessageEventRow.occurred_at)))).all())


async def stored(db: Database) -> list[EventRow]:
    async with db.session() as session:
        return list((await session.exec(select(EventRow).order_by(col(EventRow.timestamp)))).all())


async def message(db: Database, id: str = "msg-1") -> MessageRow:
    async with db.session() as session:
        row = await session.get(MessageRow, id)
        assert row is not None
        return row


async def test_a_persons_first_click_is_a_journey_event_with_the_url(db: Database) -> None:
    await add_message(db)
    recorded = await record_hit(db, click(0), at(5), cares=everything)
    assert recorded is not None and recorded.verdict is None and recorded.first
    assert recorded.url == LINKS[0]
    [event] = await stored(db)
    assert recorded.to_dispatch == [] and [e.id for e in recorded.held] == [event.id], "a click waits out the burst window"
    assert event.id == journey_event_id("msg-1", "email.clicked", LINKS[0])
    assert event.type == "email.clicked" and event.customer_id == "ann"
    assert event.properties == {
        "message_id": "msg-1", "template": "promo", "journey": "promo", "provider": "tracking",
        "email": "ann@example.com", "url": LINKS[0], "link": 0,
    }
    async with db.session() as session:
        [row] = (await session.exec(select(DispatchRow))).all()
    assert row.event_id == event.id and row.next_attempt_at >= utcnow() + Rules().burst_window, "not due for the relay yet"
    [fact] = await facts(db)
    assert (fact.type, fact.source, fact.machine, fact.url) == ("email.clicked", "tracking", None, LINKS[0])
    row = await message(db)
    assert row.clicked_at is not None and row.opened_at is not None, "a click is an open too"
    assert row.history[-1]["status"] == "email.clicked" and row.history[-1]["reason"] == LINKS[0]


async def test_a_second_click_is_recorded_but_stores_no_second_event(db: Database) -> None:
    await add_message(db)
    await record_hit(db, click(0), at(5), cares=everything)
    again = await record_hit(db, click(0), at(6), cares=everything)
    assert again is not None and not again.first and again.to_dispatch == []
    assert len(await stored(db)) == 1
    assert len(await facts(db)) == 2, "every hit is in the timeline"
    assert [h["status"] for h in (await message(db)).history] == ["email.clicked"]


async def test_each_link_has_its_own_first_click(db: Database) -> None:
    await add_message(db)
    await record_hit(db, click(0), at(5), cares=everything)
    other = await record_hit(db, click(1), at(6), cares=everything)
    assert other is not None and other.first and other.url == LINKS[1]
    assert [e.properties["link"] for e in await stored(db)] == [0, 1]


async def test_a_scanner_is_recorded_with_why_and_never_dispatched(db: Database) -> None:
    await add_message(db)
    recorded = await record_hit(db, click(0), at(5, agent="Mimecast-URL-Protect/1.0"), cares=everything)
    assert recorded is not None and recorded.verdict == ("scanner", "user agent of Mimecast")
    assert recorded.url == LINKS[0], "the scanner still gets the redirect"
    assert not recorded.first and recorded.to_dispatch == [] and await stored(db) == []
    [fact] = await facts(db)
    assert fact.machine == "scanner" and fact.detail == "user agent of Mimecast"
    assert (await message(db)).clicked_at is None, "not a person's click"


async def test_the_first_human_click_after_a_scanners_is_the_event(db: Database) -> None:
    await add_message(db)
    await record_hit(db, click(0), Hit(CHROME, "203.0.113.7", SENT + timedelta(seconds=2)), cares=everything)
    person = await record_hit(db, click(0), at(5), cares=everything)
    assert person is not None and person.first
    assert [f.machine for f in await facts(db)] == ["scanner", None]
    assert (await facts(db))[0].detail == "clicked 2.0 s after sending (under 10 s)"


async def test_a_burst_of_different_links_is_a_scanner_its_first_click_too(db: Database) -> None:
    await add_message(db)
    hit = at(5)
    first = await record_hit(db, click(0), hit, cares=everything)
    assert first is not None and first.verdict is None and first.held, "a person's, as far as can be told yet"
    burst = await record_hit(db, click(1), Hit(CHROME, "203.0.113.7", hit.at + timedelta(seconds=1)), cares=everything)
    assert burst is not None and burst.verdict == ("scanner", "2 different links clicked within 2 s")
    assert [(f.machine, f.detail) for f in await facts(db)] == [("scanner", "2 different links clicked within 2 s")] * 2
    assert await stored(db) == [], "the first click's event is withdrawn before any journey heard of it"
    async with db.session() as session:
        assert (await session.exec(select(DispatchRow))).all() == []
    row = await message(db)
    assert row.clicked_at is None and row.opened_at is None and row.history == [], "not counted, not in the log"
    later = await record_hit(db, click(1), at(6), cares=everything, rules=Rules(burst_window=timedelta(seconds=2)))
    assert later is not None and later.verdict is None and later.first


async def test_while_being_sent_the_claim_time_is_the_send_time(db: Database) -> None:
    await add_message(db, sent_at=None)
    early = await record_hit(db, click(0), Hit(CHROME, None, SENT + timedelta(seconds=1)), cares=everything)
    assert early is not None and early.verdict is not None and "after sending" in early.verdict[1]
    late = await record_hit(db, click(0), at(5), cares=everything)
    assert late is not None and late.verdict is None


async def test_a_link_the_message_does_not_have_or_an_unknown_message_records_nothing(db: Database) -> None:
    await add_message(db)
    assert await record_hit(db, click(2), at(5), cares=everything) is None
    assert await record_hit(db, click(0, message="no-such-message"), at(5), cares=everything) is None
    assert await facts(db) == [] and await stored(db) == []


async def test_a_message_without_links_has_no_click_to_record(db: Database) -> None:
    await add_message(db, links=[])
    assert await record_hit(db, click(0), at(5), cares=everything) is None


async def test_a_persons_open_is_an_event_once_and_proxies_are_only_facts(db: Database) -> None:
    await add_message(db)
    proxy = await record_hit(db, opening(), at(1, agent="Mozilla/5.0 (via ggpht.com GoogleImageProxy)"), cares=everything)
    assert proxy is not None and proxy.verdict == ("proxy", "Gmail's image proxy") and not proxy.first
    assert (await message(db)).opened_at is None
    person = await record_hit(db, opening(), at(2), cares=everything)
    again = await record_hit(db, opening(), at(3), cares=everything)
    assert person is not None and person.first and person.url is None
    assert again is not None and not again.first
    [event] = await stored(db)
    assert event.type == "email.opened" and "url" not in event.properties
    assert [(f.type, f.machine) for f in await facts(db)] == [("email.opened", "proxy"), ("email.opened", None), ("email.opened", None)]


async def test_an_event_no_journey_waits_for_is_stored_without_an_outbox_row(db: Database) -> None:
    await add_message(db)
    recorded = await record_hit(db, click(0), at(5), cares=nothing)
    assert recorded is not None and recorded.first and recorded.to_dispatch == []
    assert len(await stored(db)) == 1
    async with db.session() as session:
        assert (await session.exec(select(DispatchRow))).all() == []


async def test_the_same_request_twice_in_one_millisecond_is_one_hit(db: Database) -> None:
    await add_message(db)
    hit = at(5)
    await record_hit(db, click(0), hit, cares=everything)
    await record_hit(db, click(0), hit, cares=everything)
    await record_hit(db, click(0), Hit(CHROME, "198.51.100.1", hit.at), cares=everything)
    assert len(await facts(db)) == 2


# ----- a scanner fetching every link: the burst, both ways, under the message's lock ------------

TEN = [f"https://shop.example/p/{i}" for i in range(10)]


async def counted(db: Database, metric: str) -> int:
    """The roll-up's figure for the step (journeys/analytics): what the analytics show."""
    async with db.session() as session:
        rows = await session.exec(
            select(JourneyStatRow.count).where(JourneyStatRow.metric == metric, JourneyStatRow.split == "", JourneyStatRow.step == "send:promo")
        )
        return sum(rows.all())


async def test_a_scanner_fetching_every_link_at_once_is_no_persons_click(db: Database) -> None:
    await add_message(db, links=TEN)
    start = SENT + timedelta(minutes=5)
    hits = [Hit(CHROME, "198.51.100.9", start + timedelta(milliseconds=i)) for i in range(len(TEN))]
    recorded = await asyncio.gather(*[record_hit(db, click(i), hit, cares=everything) for i, hit in enumerate(hits)])
    assert all(r is not None and r.url == TEN[i] for i, r in enumerate(recorded)), "every fetch is redirected"
    assert [f.machine for f in await facts(db)] == ["scanner"] * len(TEN)
    assert {f.detail for f in await facts(db)} <= {f"{n} different links clicked within 2 s" for n in range(2, 11)}
    assert await stored(db) == [], "no email.clicked event"
    async with db.session() as session:
        assert (await session.exec(select(DispatchRow))).all() == []
    row = await message(db)
    assert (row.clicked_at, row.opened_at, row.history) == (None, None, [])
    assert (await counted(db, "clicked"), await counted(db, "opened")) == (0, 0)


async def test_a_scanner_fetching_every_link_one_after_another_is_no_persons_click(db: Database) -> None:
    await add_message(db, links=TEN)
    start = SENT + timedelta(minutes=5)
    for i in range(len(TEN)):
        await record_hit(db, click(i), Hit(CHROME, "198.51.100.9", start + timedelta(milliseconds=150 * i)), cares=everything)
    assert [f.machine for f in await facts(db)] == ["scanner"] * len(TEN), "the first link's click too"
    assert await stored(db) == []
    assert (await counted(db, "clicked"), await counted(db, "opened")) == (0, 0)
    assert (await message(db)).clicked_at is None


async def test_a_persons_single_click_is_one_event_and_one_count(db: Database) -> None:
    await add_message(db, links=TEN)
    recorded = await asyncio.gather(*[record_hit(db, click(3), at(5 + i / 1000), cares=everything) for i in range(5)])
    assert sum(bool(r and r.first) for r in recorded) == 1, "a double (or quintuple) click is one event"
    [event] = await stored(db)
    assert event.type == "email.clicked" and event.properties["url"] == TEN[3]
    assert (await counted(db, "clicked"), await counted(db, "opened")) == (1, 1)
    assert [f.machine for f in await facts(db)] == [None] * 5


async def test_a_burst_does_not_take_back_a_persons_earlier_click(db: Database) -> None:
    """A person clicked a link minutes ago; a scanner's burst now withdraws only its own."""
    await add_message(db, links=TEN)
    await record_hit(db, click(0), at(5), cares=everything)
    for i in range(3):
        await record_hit(db, click(i), at(20 + i / 100), cares=everything)
    [event] = await stored(db)
    assert event.properties["url"] == TEN[0]
    assert [f.machine for f in await facts(db)] == [None, "scanner", "scanner", "scanner"]
    assert (await counted(db, "clicked"), await counted(db, "opened")) == (1, 1)
    assert (await message(db)).clicked_at == SENT + timedelta(minutes=5)


# ----- one journey event per first human open (and per link's first click), whatever the source --


async def test_an_esp_open_and_our_pixel_are_one_email_opened_event(db: Database) -> None:
    await add_message(db)
    gmail_ui = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
    esp = EmailEvent(
        provider="sendgrid", provider_event_id="sg-open-1", type="email.opened", email="ann@example.com", message_id="msg-1",
        esp_message_id=None, occurred_at=SENT + timedelta(minutes=4), user_agent=gmail_ui, address="203.0.113.7",
    )
    first = await record_email_events(db, [esp], everything)
    pixel = await record_hit(db, opening(), at(5), cares=everything)
    assert [e.type for e in first.accepted] == ["email.opened"]
    assert pixel is not None and pixel.verdict is None and not pixel.first and pixel.to_dispatch == []
    [event] = await stored(db)
    assert event.id == journey_event_id("msg-1", "email.opened", None) and event.properties["provider"] == "sendgrid"
    assert [(f.source, f.machine) for f in await facts(db)] == [("sendgrid", None), ("tracking", None)], "both in the timeline"
    assert await counted(db, "opened") == 1


async def test_our_click_and_the_esps_report_of_it_are_one_email_clicked_event(db: Database) -> None:
    await add_message(db)
    mine = await record_hit(db, click(1), at(5), cares=everything)
    esp = EmailEvent(
        provider="postmark", provider_event_id="pm-click", type="email.clicked", email="ann@example.com", message_id="msg-1",
        esp_message_id=None, occurred_at=SENT + timedelta(minutes=5), url=LINKS[1], user_agent=CHROME, address="203.0.113.7",
    )
    result = await record_email_events(db, [esp], everything)
    assert mine is not None and mine.first and result.accepted == []
    assert result.duplicate_ids == [journey_event_id("msg-1", "email.clicked", LINKS[1])]
    assert [e.properties["url"] for e in await stored(db)] == [LINKS[1]]
    assert [h["status"] for h in (await message(db)).history] == ["email.clicked"]
    assert (await counted(db, "clicked"), await counted(db, "opened")) == (1, 1)
