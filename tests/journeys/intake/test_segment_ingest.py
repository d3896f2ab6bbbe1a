"""How checked Segment calls change profiles, merge ids and fill the event store, in one pass (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlmodel import select

from journeys.contracts.customers import Customer
from journeys.contracts.events import Event
from journeys.contracts.journey_io import MERGED_EVENT
from journeys.customers.profiles import get_customer
from journeys.intake import segment_ingest
from journeys.intake.event_store import StoreResult
from journeys.intake.segment_calls import SegmentCall, parse_call
from journeys.intake.segment_ingest import ProfileUpdate, ingest, profile_update
from journeys.storage.database import Database
from journeys.storage.tables import CustomerAliasRow, DispatchRow, EventRow


def checked(*raw: dict[str, Any]) -> list[tuple[SegmentCall, ProfileUpdate | None]]:
    """The calls as the route hands them over: parsed, and identify's profile change worked out."""
    calls = []
    for i, item in enumerate(raw):
        call = parse_call(item, None, f"batch[{i}]")
        calls.append((call, profile_update(call, f"batch[{i}]") if call.type == "identify" else None, f"batch[{i}]"))
    return calls


def update_of(**fields: Any) -> ProfileUpdate:
    return profile_update(parse_call({"type": "identify", "userId": "u1", **fields}, None, "batch[1]"), "batch[1]")


def everything(_: Event) -> bool:
    return True


async def send(db: Database, *raw: dict[str, Any], sent_at: datetime | None = None) -> StoreResult:
    return await ingest(db, checked(*raw), sent_at, needs_dispatch=everything)


async def events(db: Database) -> dict[str, EventRow]:
    async with db.session() as session:
        return {e.id: e for e in (await session.exec(select(EventRow))).all()}


async def customer(db: Database, customer_id: str) -> Customer | None:
    async with db.session() as session:
        return await get_customer(session, customer_id)


async def aliases(db: Database) -> dict[str, str]:
    async with db.session() as session:
        return {a.alias_id: a.customer_id for a in (await session.exec(select(CustomerAliasRow))).all()}


def merges(stored: dict[str, EventRow]) -> list[EventRow]:
    return [e for e in stored.values() if e.type == MERGED_EVENT]


# ----- what an identify changes on the profile ----------------------------------------------


def test_an_identify_gives_the_profile_a_normalised_email_and_the_other_traits_as_attributes() -> None:
    update = update_of(traits={"email": "Ann@Example.COM", "firstName": "Ann", "plan": "pro", "address": {"city": "Oslo"}})
    assert update.email == "Ann@example.com"
    assert update.attributes == {"firstName": "Ann", "plan": "pro", "address": {"city": "Oslo"}}
    assert (update.timezone, update.locale) == (None, None)


def test_timezone_and_locale_come_from_the_context_before_the_traits() -> None:
    update = update_of(
        context={"timezone": "Europe/Berlin", "locale": "de-DE"}, traits={"timezone": "Asia/Tokyo", "locale": "ja-JP"}
    )
    assert (update.timezone, update.locale) == ("Europe/Berlin", "de-DE")
    assert update.attributes == {}, "the profile's own fields are not copied into the attributes"


def test_timezone_and_locale_in_the_traits_are_used_when_the_context_has_none() -> None:
    update = update_of(context={"ip": "203.0.113.9"}, traits={"timezone": "Asia/Tokyo", "locale": "ja-JP"})
    assert (update.timezone, update.locale) == ("Asia/Tokyo", "ja-JP")


def test_an_identify_without_traits_changes_nothing_on_the_profile() -> None:
    assert update_of() == ProfileUpdate(email=None, timezone=None, locale=None, attributes={}, ignored=())


@pytest.mark.parametrize(
    ("fields", "note"),
    [
        ({"traits": {"email": "not-an-email"}}, "batch[1].traits.email: not an email address"),
        ({"traits": {"email": "ann@"}}, "batch[1].traits.email: not an email address"),
        ({"context": {"timezone": "Mars/Base"}}, "batch[1].context.timezone: not an IANA time zone"),
        ({"context": {"timezone": 2}}, "batch[1].context.timezone: not an IANA time zone"),
        ({"traits": {"timezone": "Mars/Base"}}, "batch[1].traits.timezone: not an IANA time zone"),
        ({"context": {"locale": "x" * 36}}, "batch[1].context.locale: not a locale such as 'en-US'"),
        ({"traits": {"locale": ["en"]}}, "batch[1].traits.locale: not a locale such as 'en-US'"),
    ],
)
def test_a_trait_the_profile_cannot_take_is_left_out_naming_the_call_and_field(fields: dict[str, Any], note: str) -> None:
    """Left out, not refused: a 400 would make the SDK drop every other call of its batch."""
    update = update_of(**fields)
    assert update.ignored == (note,)
    assert (update.email, update.timezone, update.locale) == (None, None, None)


# ----- profiles -----------------------------------------------------------------------------


async def test_an_identify_creates_the_profile_and_stores_an_identify_event(db: Database) -> None:
    result = await send(
        db,
        {"type": "identify", "userId": "u1", "messageId": "i-1", "traits": {"email": "Ann@Example.com", "plan": "pro"},
         "context": {"timezone": "Europe/Berlin", "locale": "de-DE"}},
    )
    assert await customer(db, "u1") == Customer(
        id="u1", email="Ann@example.com", timezone="Europe/Berlin", locale="de-DE", attributes={"plan": "pro"}
    )
    assert [(e.id, e.type, e.customer_id) for e in result.accepted] == [("i-1", "identify", "u1")]
    assert (await events(db))["i-1"].properties == {"email": "Ann@Example.com", "plan": "pro"}


async def test_a_later_identify_merges_into_the_profile_key_by_key(db: Database) -> None:
    await send(db, {"type": "identify", "userId": "u1", "traits": {"email": "ann@example.com", "plan": "free", "seats": 1},
                    "context": {"timezone": "Europe/Berlin"}})
    await send(db, {"type": "identify", "userId": "u1", "traits": {"plan": "pro", "company": "Acme"}})
    assert await customer(db, "u1") == Customer(
        id="u1", email="ann@example.com", timezone="Europe/Berlin", attributes={"plan": "pro", "seats": 1, "company": "Acme"}
    )


async def test_tracking_an_unknown_id_stores_the_event_without_making_a_profile(db: Database) -> None:
    result = await send(db, {"type": "track", "userId": "u9", "event": "Order Completed", "messageId": "t-1"})
    assert [e.type for e in result.accepted] == ["order_completed"]
    assert await customer(db, "u9") is None


# ----- merges -------------------------------------------------------------------------------


async def test_an_identify_with_both_ids_folds_the_anonymous_visitor_into_the_customer(db: Database) -> None:
    await send(db, {"type": "identify", "anonymousId": "anon-7", "traits": {"email": "bo@example.com", "cart": 3},
                    "context": {"timezone": "Asia/Tokyo"}})
    result = await send(
        db,
        {"type": "track", "anonymousId": "anon-7", "event": "Product Viewed", "messageId": "t-1"},
        {"type": "identify", "userId": "u7", "anonymousId": "anon-7", "messageId": "i-1", "traits": {"plan": "pro"}},
    )

    assert await customer(db, "anon-7") is None
    assert await customer(db, "u7") == Customer(
        id="u7", email="bo@example.com", timezone="Asia/Tokyo", attributes={"cart": 3, "plan": "pro"}
    )
    assert await aliases(db) == {"anon-7": "u7"}
    stored = await events(db)
    assert stored["t-1"].customer_id == "u7", "the visitor's call earlier in the batch belongs to the customer"
    assert stored["i-1"].customer_id == "u7"
    [merged] = merges(stored)
    assert merged.customer_id == "anon-7", "the merge is told to the journeys running under the anonymous id"
    assert merged.properties["customer_id"] == "u7" and merged.properties["customer"]["email"] == "bo@example.com"
    assert {e.id for e in result.accepted} == {"t-1", "i-1", merged.id}


async def test_the_visitors_calls_after_the_merge_in_the_same_batch_land_under_the_customer(db: Database) -> None:
    await send(
        db,
        {"type": "identify", "userId": "u7", "anonymousId": "anon-7", "messageId": "i-1"},
        {"type": "page", "anonymousId": "anon-7", "name": "Pricing", "messageId": "p-1"},
        {"type": "identify", "anonymousId": "anon-7", "traits": {"referrer": "ad"}, "messageId": "i-2"},
    )
    stored = await events(db)
    assert (stored["p-1"].customer_id, stored["i-2"].customer_id) == ("u7", "u7")
    assert await customer(db, "anon-7") is None, "the merged visitor's profile is not made again"
    known = await customer(db, "u7")
    assert known is not None and known.attributes == {"referrer": "ad"}


async def test_a_visitor_merged_before_is_not_merged_again_and_their_calls_land_under_the_customer(db: Database) -> None:
    await send(db, {"type": "identify", "userId": "u7", "anonymousId": "anon-7"})
    later = await send(
        db,
        {"type": "track", "userId": "u7", "anonymousId": "anon-7", "event": "x", "messageId": "t-1"},  # SDKs send both ids
        {"type": "track", "anonymousId": "anon-7", "event": "y", "messageId": "t-2"},
    )
    assert [(e.id, e.customer_id) for e in later.accepted] == [("t-1", "u7"), ("t-2", "u7")]
    assert len(merges(await events(db))) == 1


async def test_an_alias_call_merges_the_previous_id_into_the_user_id(db: Database) -> None:
    await send(db, {"type": "identify", "userId": "old-id", "traits": {"email": "cy@example.com", "tier": "gold"}})
    result = await send(db, {"type": "alias", "previousId": "old-id", "userId": "new-id", "messageId": "a-1"})

    assert [(e.type, e.customer_id) for e in result.accepted] == [(MERGED_EVENT, "old-id")], "alias stores no event of its own"
    assert "a-1" not in await events(db)
    assert await customer(db, "old-id") is None
    assert await customer(db, "new-id") == Customer(id="new-id", email="cy@example.com", attributes={"tier": "gold"})
    assert await aliases(db) == {"old-id": "new-id"}


async def test_an_anonymous_id_merged_into_one_customer_is_not_taken_by_another(db: Database) -> None:
    await send(db, {"type": "identify", "userId": "u1", "anonymousId": "anon-1"})
    result = await send(
        db,
        {"type": "identify", "userId": "u2", "anonymousId": "anon-1", "messageId": "i-2"},
        {"type": "track", "anonymousId": "anon-1", "event": "x", "messageId": "t-1"},
    )
    assert [(e.id, e.customer_id) for e in result.accepted] == [("i-2", "u2"), ("t-1", "u1")]
    assert await aliases(db) == {"anon-1": "u1"}  # the first merge wins, as in Segment
    assert len(merges(await events(db))) == 1


async def test_a_visitors_calls_follow_a_chain_of_merges_in_one_batch_to_the_final_customer(db: Database) -> None:
    await send(
        db,
        {"type": "track", "anonymousId": "a", "event": "x", "messageId": "t-1"},
        {"type": "alias", "previousId": "a", "userId": "b"},
        {"type": "alias", "previousId": "b", "userId": "c"},
    )
    assert await aliases(db) == {"a": "c", "b": "c"}
    assert (await events(db))["t-1"].customer_id == "c"


# ----- the event store ----------------------------------------------------------------------


async def test_the_same_batch_ingested_twice_stores_its_events_once_and_merges_once(db: Database) -> None:
    batch = (
        {"type": "track", "anonymousId": "anon-7", "event": "Cart Abandoned", "messageId": "t-1"},
        {"type": "identify", "userId": "u7", "anonymousId": "anon-7", "messageId": "i-1", "traits": {"plan": "pro"}},
    )
    first = await send(db, *batch)
    assert len(first.accepted) == 3 and first.duplicate_ids == []

    again = await send(db, *batch)  # the SDK retries after a timeout
    assert again.accepted == [] and again.to_dispatch == []
    assert sorted(again.duplicate_ids) == ["i-1", "t-1"]
    stored = await events(db)
    assert len(stored) == 3 and len(merges(stored)) == 1
    assert stored["t-1"].customer_id == "u7"
    async with db.session() as session:
        assert len((await session.exec(select(DispatchRow.id))).all()) == 3


async def test_a_message_id_repeated_inside_one_batch_is_stored_once(db: Database) -> None:
    result = await send(
        db,
        {"type": "track", "userId": "u1", "event": "x", "messageId": "same", "properties": {"n": 1}},
        {"type": "track", "userId": "u1", "event": "x", "messageId": "same", "properties": {"n": 2}},
    )
    assert [e.id for e in result.accepted] == ["same"] and result.duplicate_ids == ["same"]
    assert (await events(db))["same"].properties == {"n": 1}


async def test_only_the_events_some_journey_cares_about_get_an_outbox_row(db: Database) -> None:
    result = await ingest(
        db,
        checked(
            {"type": "track", "anonymousId": "anon-1", "event": "Order Completed", "messageId": "t-1"},
            {"type": "page", "anonymousId": "anon-1", "name": "Home", "messageId": "p-1"},
            {"type": "identify", "userId": "u1", "anonymousId": "anon-1", "messageId": "i-1"},
        ),
        None,
        needs_dispatch=lambda e: e.type in {"order_completed", MERGED_EVENT},
    )
    assert {e.id for e in result.accepted} >= {"t-1", "p-1", "i-1"} and len(result.accepted) == 4
    dispatched = {(e.type, e.customer_id) for e in result.to_dispatch}
    assert dispatched == {("order_completed", "u1"), (MERGED_EVENT, "anon-1")}
    async with db.session() as session:
        outbox = set((await session.exec(select(DispatchRow.event_id))).all())
    assert outbox == {e.id for e in result.to_dispatch}
    assert set(await events(db)) == {e.id for e in result.accepted}, "every accepted event is stored, dispatched or not"


async def test_event_times_are_corrected_for_the_senders_clock(db: Database) -> None:
    now = datetime.now(timezone.utc)
    fast = now + timedelta(hours=1)  # the device's clock runs an hour fast
    await send(
        db,
        {"type": "track", "userId": "u1", "event": "x", "messageId": "t-1", "timestamp": (fast - timedelta(minutes=10)).isoformat()},
        {"type": "track", "userId": "u1", "event": "x", "messageId": "t-2", "timestamp": "2023-01-01T00:00:00",
         "sentAt": "2023-01-01T00:05:00"},
        sent_at=fast,
    )
    stored = await events(db)
    assert abs(stored["t-1"].timestamp - (now - timedelta(minutes=10))) < timedelta(seconds=5)
    assert abs(stored["t-2"].timestamp - (now - timedelta(minutes=5))) < timedelta(seconds=5), "the call's own sentAt wins"


async def test_a_merge_whose_event_was_never_stored_is_announced_when_the_batch_is_retried(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = (
        {"type": "track", "anonymousId": "anon-7", "event": "Cart Abandoned", "messageId": "t-1"},
        {"type": "identify", "userId": "u7", "anonymousId": "anon-7", "messageId": "i-1"},
    )

    async def database_gone(*args: Any, **kwargs: Any) -> StoreResult:
        raise ConnectionError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(segment_ingest, "store_in", database_gone)
        with pytest.raises(ConnectionError):
            await send(db, *batch)  # one transaction: the merge is rolled back with the events
    await send(db, *batch)  # the SDK retries
    assert len(merges(await events(db))) == 1, "journeys running under anon-7 must hear of the merge"


async def test_a_batch_whose_message_id_ends_in_a_newline_is_stored_whole(db: Database) -> None:
    await send(
        db,
        {"type": "identify", "userId": "u1", "traits": {"email": "ann@example.com"}, "messageId": "i-1"},
        {"type": "track", "userId": "u1", "event": "x", "messageId": "t-1\n"},
    )
    stored = await events(db)
    assert len(stored) == 2 and stored["i-1"].customer_id == "u1"
