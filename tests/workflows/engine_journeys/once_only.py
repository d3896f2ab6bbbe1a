from workflows.engine import Event, Journey, journey


@journey(trigger="vip.granted", reentry="never")
class OnceOnly(Journey):
    """A customer hears about VIP status once in their life."""

    async def steps(self, event: Event) -> None:
        await self.send("welcome")
