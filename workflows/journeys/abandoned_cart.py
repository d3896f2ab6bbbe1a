"""Abandoned cart: remind after an hour, again a day later; an order ends it at any point."""

from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="cart.abandoned", exit_on="order.placed")
class AbandonedCart(Journey):
    async def steps(self, event: Event) -> None:
        cart = event.properties
        await self.sleep(timedelta(hours=1), step="before cart_reminder")
        await self.send("cart_reminder", context={"cart": cart})
        await self.sleep(timedelta(days=1), step="before second cart_reminder")
        await self.send("cart_reminder", context={"cart": cart, "second_reminder": True})
