from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="bench.wait")
class Waiting(Journey):
    """Enters and waits a month for an event that never comes: what a waiting customer costs."""

    async def steps(self, event: Event) -> None:
        await self.wait_for("bench.never", timeout=timedelta(days=30))
