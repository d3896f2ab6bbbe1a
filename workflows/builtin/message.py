"""The one-off send: ``POST /v1/customers/{id}/messages`` runs this, one run per request id."""

from workflows.engine import Event, Journey, journey

from journeys.contracts.one_off_messages import MESSAGE_EVENT, MESSAGE_JOURNEY


@journey(trigger=MESSAGE_EVENT, reentry="always", key="message_id", name=MESSAGE_JOURNEY)
class OneOffMessage(Journey):
    async def steps(self, event: Event) -> None:
        props = event.properties
        await self.send(props["template"], context=props.get("context") or {}, if_capped=props.get("if_capped") or "skip")
