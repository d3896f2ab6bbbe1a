"""POST /v1/events: one event or a batch; stored durably, then dispatched."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.bodies import BodyTooLarge, read_body
from api.guard import max_body
from api.deps import IntakeDep, OutboxDep
from journeys.contracts import json_values
from journeys.contracts.events import MAX_BATCH, RESERVED_PREFIX, Event, EventBatch, EventsAccepted
from journeys.telemetry import log_context, metrics

log = logging.getLogger("journeys.intake")

router = APIRouter(tags=["events"])

# A full batch of 1,000 events with generous properties fits well within this.
MAX_BODY_BYTES = 16 * 1024 * 1024

_EVENT_SCHEMA = Event.model_json_schema()
_BODY_SCHEMA = {
    "oneOf": [
        _EVENT_SCHEMA,
        {
            "title": "EventBatch",
            "type": "object",
            "properties": {"events": {"type": "array", "items": _EVENT_SCHEMA, "minItems": 1, "maxItems": MAX_BATCH}},
            "required": ["events"],
            "additionalProperties": False,
        },
    ]
}


def parse_events(body: Any) -> list[Event]:
    """One event, or ``{"events": [...]}``; errors name the field, e.g. body.events.3.type."""
    if not isinstance(body, dict):
        raise RequestValidationError(
            [{"type": "model_type", "loc": ("body",), "msg": "expected a JSON object: one event or {\"events\": [...]}", "input": body}]
        )
    try:
        if "events" in body:
            events = EventBatch.model_validate(body).events
            where: tuple[object, ...] = ("body", "events")
        else:
            events = [Event.model_validate(body)]
            where = ("body",)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None
    reserved = [
        {
            "type": "value_error",
            "loc": (*where, i, "type") if len(where) > 1 else (*where, "type"),
            "msg": f"event types starting with {RESERVED_PREFIX!r} are the engine's own "
            "(one-off sends: POST /v1/customers/{id}/messages)",
            "input": e.type,
        }
        for i, e in enumerate(events)
        if e.type.startswith(RESERVED_PREFIX)
    ]
    if reserved:
        raise RequestValidationError(reserved)
    return events


@router.post(
    "/v1/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventsAccepted,
    summary="Send one event or a batch of up to 1,000",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}},
        **max_body(MAX_BODY_BYTES),
    },
)
async def post_events(request: Request, intake: IntakeDep, outbox: OutboxDep) -> EventsAccepted:
    """Answers 202 once the events are stored: from then on they cannot be lost.

    ``id`` is your idempotency key: an id seen before is reported in ``duplicate_ids``
    and nothing follows from it. A batch with one invalid event stores none of it.
    """
    try:
        raw = await read_body(request, MAX_BODY_BYTES)
    except BodyTooLarge as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=f"{exc}: send fewer or smaller events") from None
    try:
        body = json_values.parse(raw)
    except json_values.NotStrictJson as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": str(exc), "input": None}]) from None
    events = parse_events(body)
    # Every line about these events names them (README, "Metrics and logs").
    with log_context.bound(event_id=log_context.joined(e.id for e in events), customer_id=log_context.only(e.customer_id for e in events)):
        with metrics.timed(metrics.INGEST_DURATION):
            # With the events of requests arriving meanwhile, in one transaction (group commit).
            result = await intake.store(events)
        metrics.count_intake("api", len(result.accepted), len(result.duplicate_ids))
        log.info("events stored: %d, duplicates: %d", len(result.accepted), len(result.duplicate_ids))
    outbox.submit(result.to_dispatch)
    return EventsAccepted(
        accepted=len(result.accepted), duplicates=len(result.duplicate_ids), duplicate_ids=result.duplicate_ids
    )
