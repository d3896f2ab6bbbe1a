"""Customers' marketing choices: subscribed by default unless a topic is opt-in, per topic or for all marketing, the latest choice winning, and why a marketing email may not go."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from sqlalchemy import text
from sqlmodel import select

from journeys.consent.subscriptions import ALL_MARKETING, Subscriptions, load_subscriptions, set_subscriptions, unsubscribed_reason
from journeys.storage.database import Database
from journeys.storage.tables import SubscriptionRow, utcnow

TOPICS = ("offers", "product", "beta")
OPT_IN = frozenset({"beta"})


async def choose(db: Database, customer: str, changes: dict[str, bool], source: str = "api") -> None:
    async with db.session() as session:
        await set_subscriptions(db, session, customer, changes, source=source)


async def load(db: Database, customer: str = "ann", topics: tuple[str, ...] = TOPICS) -> Subscriptions:
    async with db.session() as session:
        return await load_subscriptions(session, customer, topics, OPT_IN)


async def why_not(db: Database, topic: str, customer: str = "ann", opt_in: frozenset[str] = OPT_IN) -> str | None:
    async with db.session() as session:
        return await unsubscribed_reason(session, customer, topic, opt_in)


async def row(db: Database, topic: str, customer: str = "ann") -> SubscriptionRow:
    async with db.session() as session:
        found = await session.get(SubscriptionRow, (customer, topic))
        assert found is not None
        return found


async def test_a_customer_who_never_chose_gets_every_topic_that_is_not_opt_in(db: Database) -> None:
    assert await load(db) == Subscriptions(
        customer_id="ann", all_marketing=True, topics={"beta": False, "offers": True, "product": True}
    )
    assert await why_not(db, "offers") is None
    assert await why_not(db, "beta") == "topic 'beta' is opt-in and the customer has not opted in"


async def test_without_opt_in_topics_every_topic_is_subscribed_by_default(db: Database) -> None:
    async with db.session() as session:
        loaded = await load_subscriptions(session, "ann", TOPICS, frozenset())
    assert loaded.topics == {"beta": True, "offers": True, "product": True}
    assert await why_not(db, "beta", opt_in=frozenset()) is None


async def test_opting_in_to_an_opt_in_topic_lets_its_mail_through(db: Database) -> None:
    await choose(db, "ann", {"beta": True}, source="preferences-page")
    assert (await load(db)).topics["beta"] is True
    assert await why_not(db, "beta") is None


async def test_leaving_an_opt_in_topic_again_is_explained_as_an_unsubscribe(db: Database) -> None:
    await choose(db, "ann", {"beta": True})
    await choose(db, "ann", {"beta": False}, source="one-click")
    reason = await why_not(db, "beta")
    assert reason is not None and reason.startswith("unsubscribed from topic 'beta' (one-click, ")


async def test_unsubscribing_from_one_topic_leaves_the_others(db: Database) -> None:
    await choose(db, "ann", {"offers": False}, source="preferences-page")
    loaded = await load(db)
    assert loaded.all_marketing is True and loaded.topics == {"beta": False, "offers": False, "product": True}
    reason = await why_not(db, "offers")
    assert reason is not None and reason.startswith("unsubscribed from topic 'offers' (preferences-page, ")
    assert await why_not(db, "product") is None


async def test_unsubscribing_from_all_marketing_stops_every_topic_even_one_opted_into(db: Database) -> None:
    await choose(db, "ann", {"beta": True, "offers": True})
    await choose(db, "ann", {ALL_MARKETING: False}, source="one-click")

    loaded = await load(db)
    assert loaded.all_marketing is False
    assert loaded.topics == {"beta": True, "offers": True, "product": True}, "the topic flags stay as chosen, and '*' is no topic"
    for topic in ("offers", "product", "beta"):
        reason = await why_not(db, topic)
        assert reason is not None and reason.startswith("unsubscribed from all marketing (one-click, "), topic


async def test_all_marketing_is_named_before_a_topic_unsubscribe(db: Database) -> None:
    await choose(db, "ann", {"offers": False}, source="preferences-page")
    await choose(db, "ann", {ALL_MARKETING: False}, source="one-click")
    reason = await why_not(db, "offers")
    assert reason is not None and reason.startswith("unsubscribed from all marketing (one-click, ")


async def test_subscribing_to_all_marketing_again_lets_the_topics_through_but_keeps_topic_unsubscribes(db: Database) -> None:
    await choose(db, "ann", {"offers": False})
    await choose(db, "ann", {ALL_MARKETING: False})
    await choose(db, "ann", {ALL_MARKETING: True}, source="preferences-page")
    assert (await load(db)).all_marketing is True
    assert await why_not(db, "product") is None
    reason = await why_not(db, "offers")
    assert reason is not None and reason.startswith("unsubscribed from topic 'offers'")
    assert await why_not(db, "beta") == "topic 'beta' is opt-in and the customer has not opted in"


async def test_the_latest_choice_wins_and_the_explanation_names_its_source(db: Database) -> None:
    await choose(db, "ann", {"offers": False}, source="api")
    await choose(db, "ann", {"offers": True}, source="preferences-page")
    assert await why_not(db, "offers") is None
    await choose(db, "ann", {"offers": False}, source="one-click")

    reason = await why_not(db, "offers")
    assert reason is not None and "(one-click, " in reason and "api" not in reason
    async with db.session() as session:
        rows = (await session.exec(select(SubscriptionRow).where(SubscriptionRow.customer_id == "ann"))).all()
    assert [(r.topic, r.subscribed, r.source) for r in rows] == [("offers", False, "one-click")], "one row per topic"


async def test_the_explanation_says_when_the_choice_was_made_in_utc(db: Database) -> None:
    before = utcnow()
    await choose(db, "ann", {"offers": False}, source="api")
    chosen = await row(db, "offers")
    assert before <= chosen.updated_at <= utcnow()
    assert await why_not(db, "offers") == f"unsubscribed from topic 'offers' (api, {chosen.updated_at:%Y-%m-%d %H:%M} UTC)"


async def test_a_later_choice_moves_the_time_it_was_made(db: Database) -> None:
    await choose(db, "ann", {"offers": False})
    first = (await row(db, "offers")).updated_at
    await choose(db, "ann", {"offers": False}, source="one-click")
    second = await row(db, "offers")
    assert second.updated_at > first and second.source == "one-click"


async def test_several_choices_are_recorded_at_once(db: Database) -> None:
    await choose(db, "ann", {"offers": False, "beta": True, ALL_MARKETING: True}, source="preferences-page")
    loaded = await load(db)
    assert loaded.all_marketing is True and loaded.topics == {"beta": True, "offers": False, "product": True}
    assert {(await row(db, t)).source for t in ("offers", "beta", ALL_MARKETING)} == {"preferences-page"}


async def test_a_topic_the_customer_chose_is_listed_even_when_not_asked_for(db: Database) -> None:
    await choose(db, "ann", {"retired_newsletter": False})
    loaded = await load(db, topics=("offers",))
    assert loaded.topics == {"offers": True, "retired_newsletter": False}


async def test_choices_are_per_customer(db: Database) -> None:
    await choose(db, "bob", {"offers": False, ALL_MARKETING: False, "beta": True})
    assert await load(db, "ann") == Subscriptions(
        customer_id="ann", all_marketing=True, topics={"beta": False, "offers": True, "product": True}
    )
    assert await why_not(db, "offers", customer="ann") is None
    assert await why_not(db, "beta", customer="ann") is not None
    assert (await load(db, "bob")).all_marketing is False


async def test_an_empty_set_of_changes_records_nothing(db: Database) -> None:
    await choose(db, "ann", {})
    async with db.session() as session:
        assert (await session.exec(select(SubscriptionRow))).all() == []


async def test_the_explanation_is_in_utc_whatever_the_database_servers_time_zone(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite keeps no time zone of its own")
    await choose(db, "ann", {ALL_MARKETING: False}, source="api")
    chosen = await row(db, ALL_MARKETING)
    in_utc = chosen.updated_at.astimezone(timezone.utc)
    async with db.session() as session:
        # As on a server configured with timezone = 'America/New_York' (or PGTZ set for the client).
        await session.exec(text("SET TIME ZONE 'America/New_York'"))  # type: ignore[call-overload]
        reason = await unsubscribed_reason(session, "ann", "offers", OPT_IN)
        read_back = await session.get(SubscriptionRow, ("ann", ALL_MARKETING), populate_existing=True)
    assert reason == f"unsubscribed from all marketing (api, {in_utc:%Y-%m-%d %H:%M} UTC)"
    assert read_back is not None and read_back.updated_at.utcoffset() == timedelta(0)
