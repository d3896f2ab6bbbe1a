from workflows.engine import Event, Journey, journey


@journey(trigger="digest.requested")
class Morning(Journey):
    """Sends at the next 09:00 on the customer's own clock."""

    async def steps(self, event: Event) -> None:
        await self.sleep_until(self.next_local_time(9))
        await self.send("welcome")
