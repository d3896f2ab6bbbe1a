from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="product_viewed")
class BrowseAbandon(Journey):
    async def steps(self, event: Event) -> None:
        if await self.wait_for("checkout_started", timeout=timedelta(days=1)):
            await self.send("receipt", context={"product": event.properties})
