"""One-off sends (``POST /v1/customers/{id}/messages``): support or product code sends one
template to one customer now, through the same policy path and ledger as a journey.

The request becomes an event of the reserved type ``journeys.message`` that takes the
durable path of every event (event store and outbox in one transaction, then dispatch),
and starts the built-in ``message`` journey (workflows/builtin/message.py), one run per
request id. The event id is derived from the customer and the client's request id: the
same request twice is stored once and sent once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from journeys.contracts import json_values
from journeys.contracts.events import ID_PATTERN, Event, derived_id

MESSAGE_EVENT = "journeys.message"
MESSAGE_JOURNEY = "message"


class OneOffMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("context")
    @classmethod
    def _strict_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        return json_values.check(value, "context")

    @model_validator(mode="after")
    def _fits_temporal(self) -> "OneOffMessageIn":
        # Its event carries the context and a few more fields: leave room for them.
        json_values.check_size(self, "the message", json_values.MAX_ENCODED_BYTES - 1024)
        return self

    id: str = Field(min_length=1, max_length=100, pattern=ID_PATTERN, description="Your idempotency key for this send.")
    template: str = Field(min_length=1, max_length=100)
    context: dict[str, Any] = Field(default_factory=dict, description="Template variables, as a journey's send(context=...).", json_schema_extra=json_values.STRICT_JSON_MARK)
    if_capped: str = Field(default="skip", pattern="^(skip|wait)$", description="Marketing held by the frequency cap: skip, or wait for a slot.")


class OneOffMessageAccepted(BaseModel):
    id: str
    customer_id: str
    template: str
    duplicate: bool
    workflow_id: str


def message_event(customer_id: str, body: OneOffMessageIn) -> Event:
    return Event(
        id=derived_id("msg_", customer_id, body.id),
        type=MESSAGE_EVENT,
        customer_id=customer_id,
        properties={"message_id": body.id, "template": body.template, "context": body.context, "if_capped": body.if_capped},
    )
