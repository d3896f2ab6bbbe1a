from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="cart.abandoned")
class CartMatch(Journey):
    """Only an order for *this* cart counts."""

    async def steps(self, event: Event) -> None:
        cart_id = event.properties["cart_id"]
        if await self.wait_for("order.placed", where={"cart_id": cart_id}, timeout=timedelta(hours=1)):
            return
        await self.send("cart_reminder", context={"cart": event.properties})
