"""A journey started under an anonymous id carries on as the customer it turns out to be."""

from __future__ import annotations

from journeys.testkit import JourneyEnv


async def test_a_cart_abandoned_before_sign_up_is_reminded_to_the_customer(journey_env: JourneyEnv) -> None:
    await journey_env.emit("cart.abandoned", customer="anon-1", properties={"items": [{"name": "Mug"}]})
    await journey_env.customer("u1", email="ann@example.com")
    await journey_env.merge("anon-1", into="u1")
    await journey_env.advance(hours=1, minutes=1)
    [reminder] = journey_env.emails_to("u1")
    assert reminder.to == "ann@example.com" and reminder.metadata["template"] == "cart_reminder"
    state = await journey_env.state("anon-1", "abandoned_cart")
    assert state.customer_id == "u1"


async def test_the_customers_events_reach_the_journey_the_visitor_started(journey_env: JourneyEnv) -> None:
    await journey_env.emit("cart.abandoned", customer="anon-2", properties={"items": []})
    await journey_env.customer("u2")
    await journey_env.merge("anon-2", into="u2")
    await journey_env.emit("order.placed", customer="u2")  # exit_on, sent under the real id
    state = await journey_env.state("anon-2", "abandoned_cart")
    assert state.finished and state.step == "exited on order.placed"
    await journey_env.advance(days=2)
    assert journey_env.sent_to("u2") == []
