"""Welcome: greet a new user at once; nudge them after two days if they never activated."""

from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="user.signed_up")
class Welcome(Journey):
    async def steps(self, event: Event) -> None:
        await self.send("welcome", context={"signup": event.properties})
        if await self.wait_for("user.activated", timeout=timedelta(days=2)):
            return
        await self.send("getting_started")
