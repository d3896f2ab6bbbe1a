from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="trial.started")
class Trial(Journey):
    """Whichever comes first: a conversion or a cancellation."""

    async def steps(self, event: Event) -> None:
        outcome = await self.wait_for_any(["trial.converted", "trial.cancelled"], timeout=timedelta(days=14))
        if outcome is None:
            return
        await self.send("welcome" if outcome.type == "trial.converted" else "getting_started")
