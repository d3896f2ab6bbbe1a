"""The send policy through the test kit (time-skipping): consent, suppression, caps, quiet hours.

Every rule is applied by the engine at send time, whatever the journey code does, and
every decision lands in the message log with its reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from journeys.testkit import JourneyEnv, running_journeys
from tests.conftest import wait_until
from workflows.registry import Registry, discover

TEMPLATES = Path(__file__).parent / "policy_templates"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return discover("tests.workflows.policy_journeys")


@pytest.fixture
def policy(time_skipping_env: WorkflowEnvironment, registry: Registry, tmp_path: Path):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def start(**settings: Any) -> AsyncIterator[JourneyEnv]:
        settings = {"frequency_cap_24h": 0, "frequency_cap_7d": 0, **settings}
        async with running_journeys(time_skipping_env, registry, tmp_path, templates_dir=TEMPLATES, **settings) as kit:
            await kit.customer("c1", email="c1@example.com", timezone="America/New_York")
            yield kit

    return start


async def log_of(kit: JourneyEnv, customer: str = "c1") -> list[tuple[str, str, str | None]]:
    return [(m.template, m.status, m.reason) for m in await kit.messages(customer)]


async def next_local(kit: JourneyEnv, hour: int, minute: int, zone: str = "America/New_York") -> datetime:
    now = (await kit.now()).astimezone(ZoneInfo(zone))
    moment = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return moment if moment > now else (now + timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)


async def test_an_unsubscribed_topic_is_not_sent_while_other_topics_and_transactional_mail_go(policy) -> None:  # type: ignore[no-untyped-def]
    async with policy() as kit:
        await kit.unsubscribe("c1", "offers")
        await kit.emit("promo.due", customer="c1", properties={"promo_id": "p1"})
        await kit.emit("newsletter.joined", customer="c1")
        await kit.emit("order.placed", customer="c1", properties={"order_id": "o1"})
        assert sorted(kit.sent_to("c1")) == ["news", "receipt"]
        [promo] = [m for m in await kit.messages("c1") if m.template == "promo"]
        assert promo.status == "unsubscribed" and promo.topic == "offers"
        assert promo.reason and promo.reason.startswith("unsubscribed from topic 'offers' (test,")


async def test_an_unsubscribe_takes_effect_before_the_next_send(policy) -> None:  # type: ignore[no-untyped-def]
    async with policy() as kit:
        await kit.emit("newsletter.joined", customer="c1")
        assert kit.sent_to("c1") == ["news"]
        await kit.unsubscribe("c1")  # from all marketing
        await kit.advance(days=2, minutes=1)
        assert kit.sent_to("c1") == ["news"]
        assert [s for _, s, _ in await log_of(kit)] == ["sent", "unsubscribed"]
        assert (await log_of(kit))[1][2].startswith("unsubscribed from all marketing")  # type: ignore[union-attr]


@pytest.mark.parametrize("reason", ["complaint", "manual", "erased"])
async def test_a_suppressed_address_gets_no_marketing_but_still_gets_transactional(policy, reason: str) -> None:  # type: ignore[no-untyped-def]
    async with policy() as kit:
        await kit.suppress("C1@example.com", reason)  # type: ignore[arg-type]
        await kit.emit("promo.due", customer="c1", properties={"promo_id": "p1"})
        await kit.emit("order.placed", customer="c1", properties={"order_id": "o1"})
        assert kit.sent_to("c1") == ["receipt"]
        status, why = next((s, r) for t, s, r in await log_of(kit) if t == "promo")
        assert status == "suppressed" and why.startswith(f"address suppressed for marketing: {reason}")  # type: ignore[union-attr]


async def test_a_hard_bounce_stops_transactional_mail_too(policy) -> None:  # type: ignore[no-untyped-def]
    async with policy() as kit:
        await kit.suppress("c1@example.com", "hard_bounce")
        await kit.emit("order.placed", customer="c1", properties={"order_id": "o1"})
        assert kit.sent_to("c1") == []
        [(template, status, why)] = await log_of(kit)
        assert (template, status) == ("receipt", "suppressed") and why.startswith("address suppressed for all mail: hard bounce")  # type: ignore[union-attr]


async def test_a_capped_send_is_skipped_and_transactional_mail_does_not_count(policy) -> None:  # type: ignore[no-untyped-def]
    async with policy(frequency_cap_24h=1) as kit:
        await kit.emit("order.placed", customer="c1", properties={"order_id": "o1"})
        await kit.emit("promo.due", customer="c1", properties={"promo_id": "p1"})
        await kit.advance(hours=23)
        await kit.emit("promo.due", customer="c1", properties={"promo_id": "p2"})
        assert kit.sent_to("c1") == ["receipt", "promo"]
        template, status, why = (await log_of(kit))[-1]
        assert (template, status) == ("promo", "capped")
        assert why and why.startswith("frequency cap (1 per 24 hours) reached; skipped")
        await kit.advance(hours=1, minutes=1)  # the first promo leaves the rolling window
        await kit.emit("promo.due", customer="c1", properties={"promo_id": "p3"})
        assert kit.sent_to("c1") == ["receipt", "promo", "promo"]


async def test_a_journey_that_waits_out_the_cap_sends_when_the_slot_frees(policy) -> None:  # type: ignore[no-untyped-def]
    async with policy(frequency_cap_24h=1) as kit:
        await kit.emit("promo.due", customer="c1", properties={"promo_id": "p1"})
        first_sent = await kit.now()  # give or take the moments the send itself took
        await kit.advance(hours=1)
        await kit.emit("patient_promo.due", customer="c1", properties={"promo_id": "p2"})
        state = await kit.state("c1", "patient_promo", key="p2")
        assert state.step == "capped:promo" and state.until is not None
        assert abs(state.until - (first_sent + timedelta(hours=24))) < timedelta(seconds=5)
        [_, waiting] = await kit.messages("c1")
        assert waiting.status == "deferred" and waiting.reason and waiting.reason.startswith("frequency cap (1 per 24 hours): deferred until")
        await kit.advance(hours=22)
        assert kit.sent_to("c1") == ["promo"]
        await kit.advance(hours=1, minutes=1)
        assert kit.sent_to("c1") == ["promo", "promo"]
        [_, sent] = await kit.messages("c1")
        assert [h["status"] for h in sent.history] == ["deferred", "sending", "sent"]


async def test_the_seven_day_cap_counts_across_days(policy) -> None:  # type: ignore[no-untyped-def]
    async with policy(frequency_cap_7d=2) as kit:
        for day, promo in enumerate(["p1", "p2", "p3"]):
            await kit.emit("promo.due", customer="c1", properties={"promo_id": promo})
            await kit.advance(days=1)
        assert [s for _, s, _ in await log_of(kit)] == ["sent", "sent", "capped"]
        assert (await log_of(kit))[-1][2].startswith("frequency cap (2 per 7 days) reached")  # type: ignore[union-attr]


async def test_quiet_hours_hold_marketing_until_morning_in_the_customers_time_zone(policy) -> None:  # type: ignore[no-untyped-def]
    async with policy(quiet_hours="21:00-08:00") as kit:
        await kit.advance_to(await next_local(kit, 22, 30))
        await kit.emit("promo.due", customer="c1", properties={"promo_id": "p1"})
        await kit.emit("order.placed", customer="c1", properties={"order_id": "o1"})
        assert kit.sent_to("c1") == ["receipt"]  # transactional mail is not held
        promo = next(m for m in await kit.messages("c1") if m.template == "promo")
        assert promo.status == "deferred" and promo.deferred_until is not None
        morning = promo.deferred_until.astimezone(ZoneInfo("America/New_York"))
        assert (morning.hour, morning.minute) == (8, 0) and morning - (await kit.now()) < timedelta(hours=10)
        assert promo.reason and promo.reason.startswith("quiet hours (21:00-08:00 America/New_York): deferred until")
        assert (await kit.state("c1", "promo", key="p1")).step == "quiet-hours:promo"

        await kit.advance_to(morning - timedelta(minutes=1))
        assert kit.sent_to("c1") == ["receipt"]
        await kit.advance(minutes=2)
        assert kit.sent_to("c1") == ["receipt", "promo"]
        promo = next(m for m in await kit.messages("c1") if m.template == "promo")
        sending_at = datetime.fromisoformat(next(h["at"] for h in promo.history if h["status"] == "sending"))
        assert sending_at >= morning


async def test_a_journey_that_ends_while_its_send_waits_logs_it_cancelled(policy) -> None:  # type: ignore[no-untyped-def]
    async with policy(quiet_hours="21:00-08:00") as kit:
        await kit.advance_to(await next_local(kit, 23, 0))
        await kit.emit("flash_sale.started", customer="c1")
        await kit.emit("flash_sale.ended", customer="c1")
        await kit.advance(hours=10)
        assert kit.sent_to("c1") == []
        [(template, status, why)] = await log_of(kit)
        assert (template, status, why) == ("promo", "cancelled", "the journey ended before the deferred send")


async def test_a_one_off_send_takes_the_same_policy_path_once_per_id(policy) -> None:  # type: ignore[no-untyped-def]
    async with policy() as kit:
        await kit.unsubscribe("c1", "offers")
        await kit.send_message("c1", "promo", id="support-1")
        await kit.send_message("c1", "receipt", id="support-2", context={"ticket": 7})
        await kit.send_message("c1", "receipt", id="support-2", context={"ticket": 7})
        assert kit.sent_to("c1") == ["receipt"]
        assert [(t, s) for t, s, _ in await log_of(kit)] == [("promo", "unsubscribed"), ("receipt", "sent")]


async def test_journey_code_that_calls_delivery_itself_still_meets_the_policy(policy) -> None:  # type: ignore[no-untyped-def]
    async with policy() as kit:
        await kit.unsubscribe("c1", "offers")
        await kit.emit("rogue.due", customer="c1")

        async def finished() -> bool:  # the kit cannot see an activity the engine did not start
            return (await kit.state("c1", "rogue")).finished

        await wait_until(finished, what="the rogue journey finished")
        assert kit.sent_to("c1") == []
        assert (await kit.state("c1", "rogue")).data == {"status": "unsubscribed"}


async def test_marketing_mail_carries_one_click_unsubscribe_and_the_footer(policy) -> None:  # type: ignore[no-untyped-def]
    async with policy(public_url="https://mail.example.com", postal_address="Shop Inc., 1 Main St, Springfield") as kit:
        await kit.emit("promo.due", customer="c1", properties={"promo_id": "p1"})
        await kit.emit("order.placed", customer="c1", properties={"order_id": "o1"})
        promo, receipt = sorted(kit.emails_to("c1"), key=lambda e: e.metadata["template"])
        link = promo.headers["List-Unsubscribe"].strip("<>")
        assert link.startswith("https://mail.example.com/u/u1.")
        assert promo.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert f'href="{link}"' in promo.html and "Shop Inc., 1 Main St, Springfield" in promo.html
        assert promo.html.index("Shop Inc.") < promo.html.index("</body>")
        assert link in promo.text and "Shop Inc., 1 Main St, Springfield" in promo.text
        assert receipt.headers == {} and "Shop Inc." not in receipt.html  # transactional: no unsubscribe


async def test_an_unsubscribe_while_a_send_waits_for_morning_stops_it(policy) -> None:  # type: ignore[no-untyped-def]
    async with policy(quiet_hours="21:00-08:00") as kit:
        await kit.advance_to(await next_local(kit, 21, 30))
        await kit.emit("promo.due", customer="c1", properties={"promo_id": "p1"})
        await kit.unsubscribe("c1", "offers")
        await kit.advance(hours=11)
        assert kit.sent_to("c1") == []
        [promo] = await kit.messages("c1")
        assert promo.status == "unsubscribed" and [h["status"] for h in promo.history] == ["deferred", "unsubscribed"]


async def test_an_opt_in_topic_is_sent_only_after_the_customer_opts_in(policy) -> None:  # type: ignore[no-untyped-def]
    from journeys.consent.subscriptions import set_subscriptions

    async with policy(opt_in_topics="news") as kit:
        await kit.emit("newsletter.joined", customer="c1")
        assert kit.sent_to("c1") == []
        assert (await log_of(kit))[0][1:] == ("unsubscribed", "topic 'news' is opt-in and the customer has not opted in")
        async with kit.db.session() as session:
            await set_subscriptions(kit.db, session, "c1", {"news": True}, source="test")
        await kit.advance(days=2, minutes=1)
        assert kit.sent_to("c1") == ["news"]
