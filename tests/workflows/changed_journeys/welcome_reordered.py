from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="user.signed_up", name="welcome")
class WelcomeReordered(Journey):
    """Someone added a one-hour delay before the welcome email, without workflow.patched."""

    async def steps(self, event: Event) -> None:
        await self.sleep(timedelta(hours=1))
        await self.send("welcome", context={"signup": event.properties})
        if await self.wait_for("user.activated", timeout=timedelta(days=2)):
            return
        await self.send("getting_started")
