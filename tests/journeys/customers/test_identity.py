"""Merging an anonymous id into a known customer (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlmodel import select

from journeys.customers.profiles import get_customer, merge_traits
from journeys.storage.database import Database
from journeys.customers.identity import aliases_of, merge_into, resolve
from journeys.consent.subscriptions import set_subscriptions
from journeys.storage.tables import EventRow, SubscriptionRow, utcnow


async def test_the_anonymous_profile_folds_into_the_known_one_and_the_known_values_win(db: Database) -> None:
    async with db.session() as session:
        await merge_traits(session, db, "anon", email="visitor@example.com", timezone="Asia/Tokyo", attributes={"cart": 3, "plan": "free"})
        await merge_traits(session, db, "u1", attributes={"plan": "pro"})
        session.add(EventRow(id="e1", type="cart.abandoned", customer_id="anon", properties={}, timestamp=utcnow(), received_at=utcnow()))
        await session.commit()
        await set_subscriptions(db, session, "anon", {"offers": False, "news": False}, source="api")
        await set_subscriptions(db, session, "u1", {"news": True}, source="api")

    merged = await merge_into(db, "anon", "u1")
    assert merged is not None and merged.customer_id == "anon" and merged.type == "journeys.customer_merged"
    assert merged.properties["customer"]["email"] == "visitor@example.com"

    async with db.session() as session:
        assert await get_customer(session, "anon") is None
        known = await get_customer(session, "u1")
        assert known is not None and known.email == "visitor@example.com" and known.timezone == "Asia/Tokyo"
        assert known.attributes == {"cart": 3, "plan": "pro"}
        assert (await session.get(EventRow, "e1")).customer_id == "u1"  # type: ignore[union-attr]
        subs = {(s.customer_id, s.topic): s.subscribed for s in (await session.exec(select(SubscriptionRow))).all()}
        assert subs == {("u1", "offers"): False, ("u1", "news"): True}  # the known customer's own choice kept
        assert await resolve(session, ["anon", "other"]) == {"anon": "u1"}
        assert await aliases_of(session, "u1") == ["anon"]


async def test_merging_again_is_harmless_and_gives_the_same_event(db: Database) -> None:
    first = await merge_into(db, "anon", "u1")
    again = await merge_into(db, "anon", "u1")
    assert first is not None and again is not None and first.id == again.id


async def test_an_id_merged_into_one_customer_is_not_taken_by_another(db: Database) -> None:
    assert await merge_into(db, "anon", "u1") is not None
    assert await merge_into(db, "anon", "u2") is None  # the first merge wins, as in Segment
    assert await merge_into(db, "other", "anon") is None  # nor does an alias become a customer
    assert await merge_into(db, "u1", "u1") is None
    async with db.session() as session:
        assert await resolve(session, ["anon"]) == {"anon": "u1"}
