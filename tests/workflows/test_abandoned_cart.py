"""The abandoned-cart journey, on the time-skipping server."""

import re

from journeys.testkit import JourneyEnv

CART = {
    "cart_id": "k1",
    "items": [{"name": "Blue mug", "quantity": 2, "price": "9.50"}, {"name": "Green tea"}],
    "total": "19.00",
}


async def test_reminder_after_an_hour_lists_the_cart(journey_env: JourneyEnv) -> None:
    await journey_env.customer("c1", attributes={"first_name": "Cy"})
    await journey_env.emit("cart.abandoned", customer="c1", properties=CART)
    await journey_env.advance(minutes=59)
    assert journey_env.sent_to("c1") == []
    await journey_env.advance(minutes=2)
    assert journey_env.sent_to("c1") == ["cart_reminder"]
    email = journey_env.emails_to("c1")[0]
    assert email.subject == "You left something in your cart"
    # A table of the cart's items (name, quantity, price in the customer's locale): as
    # columns in the text part, cells in the HTML.
    assert re.search(r"^Blue mug +2 +\$9\.50$", email.text, re.M) and re.search(r"^Green tea +1 +–$", email.text, re.M)
    assert re.search(r"^Total +\$19\.00$", email.text, re.M)
    assert "Blue mug" in email.html and "$19.00" in email.html


async def test_second_reminder_a_day_later_then_the_journey_ends(journey_env: JourneyEnv) -> None:
    await journey_env.customer("c2")
    await journey_env.emit("cart.abandoned", customer="c2", properties=CART)
    await journey_env.advance(hours=1, minutes=1)
    await journey_env.advance(hours=23)
    assert journey_env.sent_to("c2") == ["cart_reminder"]
    await journey_env.advance(hours=1)
    assert journey_env.sent_to("c2") == ["cart_reminder", "cart_reminder"]
    assert journey_env.emails_to("c2")[1].subject == "Still thinking it over?"
    state = await journey_env.state("c2", "abandoned_cart")
    assert state.finished and state.step == "completed"


async def test_an_order_before_the_first_reminder_ends_the_journey(journey_env: JourneyEnv) -> None:
    await journey_env.customer("c3")
    await journey_env.emit("cart.abandoned", customer="c3", properties=CART)
    await journey_env.advance(minutes=30)
    await journey_env.emit("order.placed", customer="c3")
    await journey_env.advance(days=2)
    assert journey_env.sent_to("c3") == []
    state = await journey_env.state("c3", "abandoned_cart")
    assert state.finished and state.step == "exited on order.placed"


async def test_an_order_between_reminders_stops_the_second(journey_env: JourneyEnv) -> None:
    await journey_env.customer("c4")
    await journey_env.emit("cart.abandoned", customer="c4", properties=CART)
    await journey_env.advance(hours=2)
    await journey_env.emit("order.placed", customer="c4")
    await journey_env.advance(days=2)
    assert journey_env.sent_to("c4") == ["cart_reminder"]


async def test_an_order_with_no_cart_journey_running_is_harmless(journey_env: JourneyEnv) -> None:
    await journey_env.customer("c5")
    await journey_env.emit("order.placed", customer="c5")
    assert journey_env.sent_to("c5") == []


async def test_a_new_abandoned_cart_after_the_journey_ended_starts_it_again(journey_env: JourneyEnv) -> None:
    await journey_env.customer("c6")
    await journey_env.emit("cart.abandoned", customer="c6", properties=CART)
    await journey_env.emit("order.placed", customer="c6")
    await journey_env.emit("cart.abandoned", customer="c6", properties=CART)
    await journey_env.advance(hours=2)
    assert journey_env.sent_to("c6") == ["cart_reminder"]
