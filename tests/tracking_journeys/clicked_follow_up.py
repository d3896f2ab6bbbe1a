from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="offer.requested")
class ClickedFollowUp(Journey):
    async def steps(self, event: Event) -> None:
        await self.send("cart_reminder", context={"cart": event.properties})
        if await self.wait_for("email.clicked", where={"template": "cart_reminder"}, timeout=timedelta(days=3)):
            await self.send("welcome", context={"signup": {}, "cart": event.properties})
