from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="basket.abandoned", exit_on="basket.ordered", reentry="always", key="cart_id")
class PerBasket(Journey):
    """One reminder per abandoned basket, each basket on its own clock."""

    async def steps(self, event: Event) -> None:
        await self.sleep(timedelta(hours=1))
        await self.send("cart_reminder", context={"cart": event.properties})
