"""The journey test kit itself: what a test written with ``journey_env`` relies on."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from journeys.providers.base import OutgoingEmail
from journeys.testkit import JourneyEnv
from journeys.testkit import kit as kit_module

NEW_YORK = ZoneInfo("America/New_York")


async def next_local(kit: JourneyEnv, hour: int, minute: int, zone: ZoneInfo = NEW_YORK) -> datetime:
    """The next hour:minute on the wall clock of ``zone``, by the kit's clock."""
    now = (await kit.now()).astimezone(zone)
    moment = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return moment if moment > now else (now + timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)


async def ledger(kit: JourneyEnv, customer: str) -> list[tuple[str, str]]:
    return [(m.template, m.status) for m in await kit.messages(customer)]


# ----- the clock ---------------------------------------------------------------------------


async def test_advance_to_a_moment_in_the_past_raises_naming_both_times(journey_env: JourneyEnv) -> None:
    before = await journey_env.now()
    past = before - timedelta(hours=3)
    with pytest.raises(ValueError, match="cannot go back in time") as raised:
        await journey_env.advance_to(past)
    found = re.fullmatch(r"cannot go back in time to (.+) \(now (.+)\)", str(raised.value))
    assert found is not None, str(raised.value)
    asked, now = (datetime.fromisoformat(group) for group in found.groups())
    assert asked == past
    assert before <= now < before + timedelta(minutes=1)
    assert await journey_env.now() >= before, "the clock did not move back"


async def test_advance_to_lands_on_the_moment_and_runs_what_came_due(journey_env: JourneyEnv) -> None:
    await journey_env.customer("kit-ada")
    await journey_env.emit("user.signed_up", customer="kit-ada")
    moment = await journey_env.now() + timedelta(days=2, minutes=1)
    await journey_env.advance_to(moment)
    assert moment <= await journey_env.now() < moment + timedelta(minutes=1)
    assert journey_env.sent_to("kit-ada") == ["welcome", "getting_started"]


# ----- what was sent -----------------------------------------------------------------------


async def test_emails_to_and_sent_to_are_per_customer_and_in_order(journey_env: JourneyEnv) -> None:
    await journey_env.customer("kit-ann", email="ann@example.org", attributes={"first_name": "Ann"})
    await journey_env.customer("kit-bob")
    await journey_env.emit("user.signed_up", customer="kit-ann")
    await journey_env.emit("user.signed_up", customer="kit-bob")
    await journey_env.emit("user.activated", customer="kit-bob")
    await journey_env.advance(days=2, minutes=1)

    # The outbox interleaves the customers; each one's view keeps only theirs, in order.
    assert [e.metadata["customer_id"] for e in journey_env.outbox.sent] == ["kit-ann", "kit-bob", "kit-ann"]
    assert journey_env.sent_to("kit-ann") == ["welcome", "getting_started"]
    assert journey_env.sent_to("kit-bob") == ["welcome"]
    ann = journey_env.emails_to("kit-ann")
    assert all(isinstance(e, OutgoingEmail) for e in ann)
    assert [e.metadata["template"] for e in ann] == journey_env.sent_to("kit-ann")
    assert [e.to for e in ann] == ["ann@example.org", "ann@example.org"]
    assert ann[0].subject == "Welcome to Journeys, Ann!"
    assert [e.to for e in journey_env.emails_to("kit-bob")] == ["kit-bob@example.com"], "the default address"
    assert journey_env.emails_to("kit-nobody") == [] and journey_env.sent_to("kit-nobody") == []


async def test_messages_is_the_customers_ledger_with_every_policy_decision(journey_env: JourneyEnv) -> None:
    for customer in ("kit-dee", "kit-eli", "kit-fay"):
        await journey_env.customer(customer)
    await journey_env.unsubscribe("kit-dee")  # from all marketing
    await journey_env.suppress("KIT-FAY@example.com")  # a manual suppression stops marketing only
    for customer in ("kit-dee", "kit-eli", "kit-fay"):
        await journey_env.emit("user.signed_up", customer=customer)
    await journey_env.advance(days=2, minutes=1)

    assert await ledger(journey_env, "kit-eli") == [("welcome", "sent"), ("getting_started", "sent")]
    assert await ledger(journey_env, "kit-dee") == [("welcome", "sent"), ("getting_started", "unsubscribed")]
    assert await ledger(journey_env, "kit-fay") == [("welcome", "sent"), ("getting_started", "suppressed")]
    dee = await journey_env.messages("kit-dee")
    assert dee[1].reason is not None and dee[1].reason.startswith("unsubscribed from all marketing")
    assert {m.customer_id for m in dee} == {"kit-dee"}
    assert dee[0].to_email == "kit-dee@example.com" and dee[0].journey == "welcome"
    fay = await journey_env.messages("kit-fay")
    assert fay[1].reason is not None and fay[1].reason.startswith("address suppressed for marketing: manual")
    # What was held back never reached the outbox.
    assert journey_env.sent_to("kit-dee") == journey_env.sent_to("kit-fay") == ["welcome"]
    assert await journey_env.messages("kit-nobody") == []


async def test_a_one_off_message_is_sent_once_per_id_and_logged(journey_env: JourneyEnv) -> None:
    await journey_env.customer("kit-gus", attributes={"first_name": "Gus"})
    await journey_env.send_message("kit-gus", "welcome", id="support-1")
    await journey_env.send_message("kit-gus", "welcome", id="support-1")
    assert journey_env.sent_to("kit-gus") == ["welcome"]
    assert journey_env.emails_to("kit-gus")[0].subject == "Welcome to Journeys, Gus!"
    assert await ledger(journey_env, "kit-gus") == [("welcome", "sent")]


# ----- settling ----------------------------------------------------------------------------


async def test_events_emitted_without_settling_are_all_taken_by_the_next_settle(journey_env: JourneyEnv) -> None:
    customers = ("kit-hal", "kit-ivy", "kit-jon")
    for customer in customers:
        await journey_env.customer(customer)
        await journey_env.emit("user.signed_up", customer=customer, settle=False)
    await journey_env.emit("user.activated", customer="kit-ivy", settle=False)
    await journey_env.settle()

    for customer in customers:
        assert journey_env.sent_to(customer) == ["welcome"], customer
    ivy = await journey_env.state("kit-ivy", "welcome")
    assert ivy.events_received == 2 and ivy.finished, "both of Ivy's events were taken"
    hal = await journey_env.state("kit-hal", "welcome")
    assert hal.events_received == 1 and hal.step == "wait:user.activated" and not hal.finished
    await journey_env.advance(days=2, minutes=1)
    assert [journey_env.sent_to(c) for c in customers] == [["welcome", "getting_started"], ["welcome"], ["welcome", "getting_started"]]


async def test_a_journey_stuck_busy_makes_settle_raise_naming_the_workflow(
    journey_env: JourneyEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kit_module, "SETTLE_DEADLINE", 0.5)
    deliver = journey_env.outbox.send
    reached_esp = asyncio.Event()
    release = asyncio.Event()

    async def stuck_esp(email: OutgoingEmail) -> str:  # the send activity hangs at the ESP
        reached_esp.set()
        await release.wait()
        return await deliver(email)

    monkeypatch.setattr(journey_env.outbox, "send", stuck_esp)
    await journey_env.customer("kit-kim")
    await journey_env.emit("user.signed_up", customer="kit-kim", settle=False)
    try:
        await asyncio.wait_for(reached_esp.wait(), timeout=10)
        with pytest.raises(TimeoutError, match=r"did not settle within 0\.5s: journey:welcome:kit-kim: busy in a workflow task \(a send's first attempt"):
            await journey_env.settle()
    finally:
        release.set()
    await journey_env.settle()  # once the send is through, the journey settles again
    assert journey_env.sent_to("kit-kim") == ["welcome"]


async def test_settle_with_several_journeys_stuck_keeps_to_its_deadline(
    journey_env: JourneyEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each stuck journey's query is held for the floor; looked at one after the other,
    four of them took settle 8 s past a deadline of 0.5 s."""
    monkeypatch.setattr(kit_module, "SETTLE_DEADLINE", 0.5)
    deliver = journey_env.outbox.send
    customers = [f"kit-stuck{i}" for i in range(4)]
    at_esp: set[str] = set()
    all_at_esp, release = asyncio.Event(), asyncio.Event()

    async def stuck_esp(email: OutgoingEmail) -> str:
        at_esp.add(email.to)
        if len(at_esp) == len(customers):
            all_at_esp.set()
        await release.wait()
        return await deliver(email)

    monkeypatch.setattr(journey_env.outbox, "send", stuck_esp)
    for customer in customers:
        await journey_env.customer(customer)
        await journey_env.emit("user.signed_up", customer=customer, settle=False)
    try:
        await asyncio.wait_for(all_at_esp.wait(), timeout=20)
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError, match="did not settle within 0.5s") as raised:
            await journey_env.settle()
        took = asyncio.get_running_loop().time() - started
    finally:
        release.set()
    assert all(f"journey:welcome:{c}: busy" in str(raised.value) for c in customers), raised.value
    assert took < 0.5 + 2 * kit_module.QUERY_FLOOR_S, f"settle took {took:.1f} s"
    await journey_env.settle()
    assert [journey_env.sent_to(c) for c in customers] == [["welcome"]] * 4


# ----- settings ----------------------------------------------------------------------------


async def abandon_a_cart_at_half_past_eight_in_the_evening(kit: JourneyEnv, customer: str) -> None:
    """A cart abandoned at 20:30 New York time: its reminder comes due at 21:30."""
    await kit.customer(customer, timezone="America/New_York")
    await kit.advance_to(await next_local(kit, 20, 30))
    await kit.emit("cart.abandoned", customer=customer, properties={"items": [{"name": "Mug"}]})
    await kit.advance(hours=1, minutes=1)


async def test_with_the_default_journey_settings_a_reminder_goes_out_at_night(journey_env: JourneyEnv) -> None:
    await abandon_a_cart_at_half_past_eight_in_the_evening(journey_env, "kit-lea")
    assert journey_env.sent_to("kit-lea") == ["cart_reminder"]


class TestAJourneySettingsOverrideInTheTestModule:
    @pytest.fixture
    def journey_settings(self) -> dict[str, Any]:
        return {"quiet_hours": "21:00-08:00"}

    async def test_reaches_the_journeys_so_quiet_hours_hold_a_reminder_until_morning(self, journey_env: JourneyEnv) -> None:
        await abandon_a_cart_at_half_past_eight_in_the_evening(journey_env, "kit-max")
        assert journey_env.sent_to("kit-max") == []
        [held] = await journey_env.messages("kit-max")
        assert (held.template, held.status) == ("cart_reminder", "deferred")
        assert held.reason is not None and held.reason.startswith("quiet hours (21:00-08:00 America/New_York)")
        assert (await journey_env.state("kit-max", "abandoned_cart")).step == "quiet-hours:cart_reminder"

        morning = await next_local(journey_env, 8, 0)
        await journey_env.advance_to(morning - timedelta(minutes=1))
        assert journey_env.sent_to("kit-max") == []
        await journey_env.advance(minutes=2)
        assert journey_env.sent_to("kit-max") == ["cart_reminder"]
