"""Engine features, each through a small journey and the test kit (time-skipping, and the
dev server where the test server falls short)."""

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from journeys.testkit import JourneyEnv, running_journeys
from workflows.registry import Registry, discover


@pytest.fixture(scope="module")
def journey_registry() -> Registry:
    return discover("tests.workflows.engine_journeys")


async def test_wait_for_where_ignores_other_carts(journey_env: JourneyEnv) -> None:
    await journey_env.customer("w1")
    await journey_env.emit("cart.abandoned", customer="w1", properties={"cart_id": "k1"})
    await journey_env.emit("order.placed", customer="w1", properties={"cart_id": "other"})
    await journey_env.advance(hours=2)
    assert journey_env.sent_to("w1") == ["cart_reminder"], "an order for another cart is not this cart's order"


async def test_wait_for_where_matches_this_cart(journey_env: JourneyEnv) -> None:
    await journey_env.customer("w2")
    await journey_env.emit("cart.abandoned", customer="w2", properties={"cart_id": "k1"})
    await journey_env.emit("order.placed", customer="w2", properties={"cart_id": "k1"})
    await journey_env.advance(hours=2)
    assert journey_env.sent_to("w2") == []


@pytest.mark.parametrize(("outcome", "template"), [("trial.converted", "welcome"), ("trial.cancelled", "getting_started")])
async def test_wait_for_any_takes_whichever_comes_first(journey_env: JourneyEnv, outcome: str, template: str) -> None:
    await journey_env.customer("t1")
    await journey_env.emit("trial.started", customer="t1")
    await journey_env.advance(days=3)
    await journey_env.emit(outcome, customer="t1")
    assert journey_env.sent_to("t1") == [template]
    state = await journey_env.state("t1", "trial")
    assert state.finished


async def test_wait_for_any_times_out_to_none(journey_env: JourneyEnv) -> None:
    await journey_env.customer("t2")
    await journey_env.emit("trial.started", customer="t2")
    state = await journey_env.state("t2", "trial")
    assert state.waiting_for == ["trial.cancelled", "trial.converted"] and state.until is not None
    await journey_env.advance(days=15)
    assert journey_env.sent_to("t2") == [] and (await journey_env.state("t2", "trial")).finished


async def test_sleep_until_the_next_nine_on_the_customers_clock(journey_env: JourneyEnv) -> None:
    zone = ZoneInfo("America/New_York")
    await journey_env.customer("m1", timezone="America/New_York")
    await journey_env.emit("digest.requested", customer="m1")
    local = (await journey_env.now()).astimezone(zone)
    nine = local.replace(hour=9, minute=0, second=0, microsecond=0)
    if nine <= local:
        nine = datetime.combine(local.date() + timedelta(days=1), nine.time(), tzinfo=zone)
    state = await journey_env.state("m1", "morning")
    assert state.until is not None and abs(state.until - nine) < timedelta(seconds=1)
    # advance_to measures from a UTC now: elapsed time, right across a DST changeover
    # (``nine - local`` with one ZoneInfo on both sides would be wall-clock time).
    await journey_env.advance_to(nine - timedelta(minutes=1))
    assert journey_env.sent_to("m1") == []
    await journey_env.advance_to(nine + timedelta(minutes=1))
    assert journey_env.sent_to("m1") == ["welcome"]


async def test_reentry_never_enters_a_customer_once_ever(journey_env: JourneyEnv) -> None:
    await journey_env.customer("v1")
    await journey_env.emit("vip.granted", customer="v1")
    assert (await journey_env.state("v1", "once_only")).finished
    await journey_env.advance(days=400)
    await journey_env.emit("vip.granted", customer="v1")
    assert journey_env.sent_to("v1") == ["welcome"]


async def test_reentry_always_runs_one_journey_per_key(journey_env: JourneyEnv) -> None:
    await journey_env.customer("b1")
    await journey_env.emit("basket.abandoned", customer="b1", properties={"cart_id": "k1"})
    await journey_env.emit("basket.abandoned", customer="b1", properties={"cart_id": "k2"})
    await journey_env.emit("basket.ordered", customer="b1", properties={"cart_id": "k1"})
    await journey_env.advance(hours=2)
    assert journey_env.sent_to("b1") == ["cart_reminder"]
    assert journey_env.emails_to("b1")[0].metadata["template"] == "cart_reminder"
    assert (await journey_env.state("b1", "per_basket", key="k1")).step == "exited on basket.ordered"
    assert (await journey_env.state("b1", "per_basket", key="k2")).step == "completed"


async def test_an_exit_event_without_the_key_ends_every_run_of_a_keyed_journey(journey_env: JourneyEnv) -> None:
    await journey_env.customer("b2")
    for cart in ("k1", "k2"):
        await journey_env.emit("basket.abandoned", customer="b2", properties={"cart_id": cart})
    await journey_env.emit("basket.ordered", customer="b2")
    await journey_env.advance(hours=2)
    assert journey_env.sent_to("b2") == []


def test_keyed_reentry_needs_a_key() -> None:
    from workflows.engine import journey

    with pytest.raises(ValueError, match="needs key="):
        journey(trigger="a.b", reentry="always")


async def test_a_long_lived_journey_continues_as_new_without_losing_or_repeating(journey_env: JourneyEnv) -> None:
    await journey_env.customer("s1")
    await journey_env.emit("sub.started", customer="s1")
    for month in range(6):
        await journey_env.advance(days=30, minutes=1)
    state = await journey_env.state("s1", "subscription")
    assert state.runs > 1, "history grew past max_history_events, so it continued as new"
    assert state.data["months"] == 6 and journey_env.sent_to("s1") == ["welcome"] * 6
    keys = {e.message_id for e in journey_env.emails_to("s1")}
    assert len(keys) == 6, "every monthly email has its own ledger entry"


async def test_events_in_flight_cross_continue_as_new_once_each(
    dev_server: WorkflowEnvironment, journey_registry: Registry, tmp_path: Path
) -> None:
    # On the real dev server: the time-skipping test server mishandles signals that arrive
    # while a run continues-as-new (it dropped one, or stalled the next run, about one time
    # in three here), which the real server queues for the new run.
    async with running_journeys(dev_server, journey_registry, tmp_path) as journey_env:
        await journey_env.customer("s2")
        await journey_env.emit("sub.started", customer="s2")
        for i in range(25):
            await journey_env.emit("sub.ping", customer="s2", id=f"ping-{i}", settle=False)
        await journey_env.settle()
        state = await journey_env.state("s2", "subscription")
        assert state.runs > 1 and state.data["pings"] == 25
        for i in range(5):  # the same ids again, after the hand-over: already seen
            await journey_env.emit("sub.ping", customer="s2", id=f"ping-{i}")
        assert (await journey_env.state("s2", "subscription")).data["pings"] == 25
        await journey_env.emit("sub.cancelled", customer="s2")
        final = await journey_env.state("s2", "subscription")
        assert final.finished and final.step == "exited on sub.cancelled"


async def test_split_is_deterministic_weighted_and_recorded_with_goal_conversions(journey_env: JourneyEnv) -> None:
    from sqlmodel import select

    from journeys.storage.tables import ConversionRow, SplitAssignmentRow

    customers = [f"p{i}" for i in range(24)]
    for c in customers:
        await journey_env.customer(c)
        await journey_env.emit("promo.shown", customer=c, settle=False)
    await journey_env.settle()
    variants = {c: (await journey_env.state(c, "promo")).variants["email"] for c in customers}
    assert set(variants.values()) == {"a", "b"}, "both variants are used"
    for c in customers:
        assert journey_env.sent_to(c) == (["welcome"] if variants[c] == "a" else ["getting_started"])

    buyers = customers[:5]
    for c in buyers:
        await journey_env.emit("promo.bought", customer=c)
        state = await journey_env.state(c, "promo")
        assert state.finished and state.converted == ["promo.bought"]
    await journey_env.advance(days=8)

    # A second entry gets the same variant: the split is by customer, not by chance.
    await journey_env.emit("promo.shown", customer=customers[0])
    assert (await journey_env.state(customers[0], "promo")).variants["email"] == variants[customers[0]]

    async with journey_env.db.session() as session:
        assigned = (await session.exec(select(SplitAssignmentRow))).all()
        converted = (await session.exec(select(ConversionRow))).all()
    assert len(assigned) == len(customers) + 1
    assert {(r.customer_id, r.variant) for r in assigned} == set(variants.items())
    assert sorted(r.customer_id for r in converted) == sorted(buyers)
    assert all(r.variants == {"email": variants[r.customer_id]} and r.goal == "promo.bought" for r in converted)

    # The same story in the journey's figures: entries, how each ended, sends, per variant.
    from journeys.analytics.report import figures

    report = await figures(journey_env.db, "promo", None, None, min_sample=1)
    assert (report.entered, report.converted) == (len(customers) + 1, {"promo.bought": len(buyers)})
    assert report.exited == {"promo.bought": len(buyers)} and report.completed == len(customers) - len(buyers)
    assert report.active == 1, "the second entry is still in its week"
    by_variant = {v.variant: v for v in report.splits[0].variants}
    for name in ("a", "b"):
        entries = [c for c in customers if variants[c] == name] + ([customers[0]] if variants[customers[0]] == name else [])
        assert by_variant[name].entered == len(entries)
        assert by_variant[name].converted.get("promo.bought", 0) == len([c for c in buyers if variants[c] == name])
        assert [(s.step, s.sent) for s in by_variant[name].steps] == [("send:" + ("welcome" if name == "a" else "getting_started"), len(entries))]


def test_split_weights_are_respected_and_zero_means_never() -> None:
    from workflows.engine import choose_variant

    picks = [choose_variant("promo", "email", f"c{i}", {"a": 90, "b": 10}) for i in range(10_000)]
    assert 0.88 < picks.count("a") / len(picks) < 0.92
    assert {choose_variant("promo", "email", f"c{i}", {"a": 0, "b": 1}) for i in range(200)} == {"b"}
    with pytest.raises(ValueError, match="non-negative weights"):
        choose_variant("promo", "email", "c1", {"a": 0})


async def test_refresh_sees_a_profile_changed_after_the_journey_started(journey_env: JourneyEnv) -> None:
    await journey_env.customer("u1", attributes={"vip": False})
    await journey_env.emit("upsell.considered", customer="u1")
    await journey_env.customer("u1", attributes={"vip": True})
    await journey_env.advance(days=1, minutes=1)
    state = await journey_env.state("u1", "upsell")
    assert state.data["vip_at_entry"] is False, "self.customer is the profile as the journey entered"
    assert journey_env.sent_to("u1") == ["welcome"], "after refresh() the branch sees vip=True"


async def test_an_entry_is_counted_whatever_the_journey_does_first(journey_env: JourneyEnv) -> None:
    """A run's entry rides with its first send; a journey that first waits, or ends before
    it sends anything, still has its entry counted, once."""
    from journeys.analytics.report import figures

    await journey_env.customer("w1", email="w1@example.com")
    await journey_env.emit("cart.abandoned", customer="w1", properties={"cart_id": "k1"})
    report = await figures(journey_env.db, "cart_match", None, None, min_sample=1)
    assert (report.entered, report.active) == (1, 1), "waiting at its first step, and counted"
    await journey_env.emit("order.placed", customer="w1", properties={"cart_id": "k1"})
    report = await figures(journey_env.db, "cart_match", None, None, min_sample=1)
    assert (report.entered, report.active, report.completed) == (1, 0, 1)
    assert journey_env.sent_to("w1") == []

    await journey_env.emit("sub.started", customer="w1")
    await journey_env.emit("sub.cancelled", customer="w1")
    report = await figures(journey_env.db, "subscription", None, None, min_sample=1)
    assert (report.entered, report.active, report.exited) == (1, 0, {"sub.cancelled": 1})
