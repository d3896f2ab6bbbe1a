from datetime import timedelta

from temporalio import workflow

from workflows.engine import Event, Journey, journey


@journey(trigger="user.signed_up", name="welcome")
class WelcomePatched(Journey):
    """New customers wait an hour before the welcome email; customers already past that
    point in the old code carry on as they were."""

    async def steps(self, event: Event) -> None:
        if workflow.patched("welcome-after-an-hour"):
            await self.sleep(timedelta(hours=1))
        await self.send("welcome", context={"signup": event.properties})
        if await self.wait_for("user.activated", timeout=timedelta(days=2)):
            return
        await self.send("getting_started")
