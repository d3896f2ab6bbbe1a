"""Hits recorded: every one for the timeline, the first a person makes as a journey event."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import col, select

from journeys.storage.analytics_tables import MessageEventRow
from journeys.storage.database import Database
from journeys.storage.tables import DispatchRow, EventRow, MessageRow
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
    assert [e.id for e in recorded.to_dispatch] == [event.id] and event.id.startswith("trk_")
    assert event.type == "email.clicked" and event.customer_id == "ann"
    assert event.properties == {
        "message_id": "msg-1", "template": "promo", "journey": "promo", "provider": "tracking",
        "email": "ann@example.com", "url": LINKS[0], "link": 0,
    }
    async with db.session() as session:
        assert [d.event_id for d in (await session.exec(select(DispatchRow))).all()] == [event.id]
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


async def test_a_burst_of_different_links_is_a_scanner(db: Database) -> None:
    await add_message(db)
    hit = at(5)
    await record_hit(db, click(0), hit, cares=everything)
    burst = await record_hit(db, click(1), Hit(CHROME, "203.0.113.7", hit.at + timedelta(seconds=1)), cares=everything)
    assert burst is not None and burst.verdict == ("scanner", "2 different links clicked within 2 s")
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
