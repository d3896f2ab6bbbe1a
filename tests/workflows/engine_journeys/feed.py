from workflows.engine import Event, Journey, journey


@journey(trigger="feed.started", exit_on="feed.stopped", listens_to="feed.noise")
class Feed(Journey):
    """Counts ticks for ever; hears noise it never waits for, which piles up in its inbox."""

    max_history_events = 40  # small, so the test sees many continue-as-new hand-overs

    async def steps(self, event: Event) -> None:
        while True:
            await self.wait_for("feed.tick")
            self.state["ticks"] = self.state.get("ticks", 0) + 1
            await self.checkpoint()
