from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="bench.month")
class ThirtyDays(Journey):
    """Ten steps over thirty days: five emails, five waits."""

    async def steps(self, event: Event) -> None:
        for _ in range(5):
            await self.send("welcome")
            await self.sleep(timedelta(days=6))
