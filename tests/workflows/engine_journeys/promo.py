from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="promo.shown")
class Promo(Journey):
    """An A/B test of two emails; buying within a week is the goal and ends the journey."""

    async def steps(self, event: Event) -> None:
        variant = await self.split("email", {"a": 50, "b": 50})
        self.goal("promo.bought", exit=True)
        await self.send("welcome" if variant == "a" else "getting_started")
        await self.sleep(timedelta(days=7))
