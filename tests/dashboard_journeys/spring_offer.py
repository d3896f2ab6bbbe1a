"""An A/B test of an offer's subject line, for the dashboard's scenario (tests/scenario.py).

A click brings a follow-up; a bounce ends the journey (completed); an order within a week
is the goal and ends it too; closing the account exits it.
"""
from datetime import timedelta

from workflows.engine import Event, Journey, journey


@journey(trigger="offer.started", exit_on="account.closed")
class SpringOffer(Journey):
    async def steps(self, event: Event) -> None:
        variant = await self.split("subject", {"control": 50, "bold": 50})
        self.goal("order.placed", exit=True)
        await self.send("spring_offer", context={"variant": variant, "offer": event.properties})
        reaction = await self.wait_for_any(["email.clicked", "email.bounced"], timeout=timedelta(days=3))
        if reaction is None or reaction.type == "email.bounced":
            return
        await self.send("spring_follow_up", context={"offer": event.properties})
        await self.sleep(timedelta(days=7), step="after the follow-up")
