from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="promo.requested")
class OpenedFollowUp(Journey):
    async def steps(self, event: Event) -> None:
        await self.send("promo")
        if await self.wait_for("email.opened", where={"template": "promo"}, timeout=timedelta(days=3)):
            await self.send("receipt")
