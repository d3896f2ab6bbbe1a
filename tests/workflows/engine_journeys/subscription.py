from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="sub.started", exit_on="sub.cancelled")
class Subscription(Journey):
    """Lives as long as the subscription: a monthly email, counting pings in between."""

    max_history_events = 30  # small, so the tests see several continue-as-new hand-overs

    async def steps(self, event: Event) -> None:
        while True:
            ping = await self.wait_for("sub.ping", timeout=timedelta(days=30))
            if ping is None:
                await self.send("welcome")
                self.state["months"] = self.state.get("months", 0) + 1
            else:
                self.state["pings"] = self.state.get("pings", 0) + 1
            await self.checkpoint()
