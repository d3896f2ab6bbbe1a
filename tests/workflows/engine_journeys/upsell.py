from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="upsell.considered")
class Upsell(Journey):
    """Branches on an attribute that may have changed since the journey started."""

    async def steps(self, event: Event) -> None:
        await self.sleep(timedelta(days=1))
        self.state["vip_at_entry"] = bool(self.customer.attributes.get("vip"))
        await self.refresh()
        await self.send("welcome" if self.customer.attributes.get("vip") else "getting_started")
