"""The Segment routes' request bodies, as JSON Schema for the OpenAPI document.

The routes read their bodies themselves (gzip, the write key in the body, Segment's
answers), so FastAPI cannot derive these; they are written here from Segment's spec and
from what journeys/intake/segment_calls.py accepts, so that a call matching the schema is
a call Journeys takes (schemathesis checks that, tests/api/test_openapi_truth.py).
"""

from __future__ import annotations

from typing import Any

from journeys.contracts.events import ID_PATTERN

_ID = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": ID_PATTERN}
# ISO 8601 between the years 1900 and 9999 (a naive time is UTC).
_TIME = {"type": "string", "format": "date-time", "pattern": r"^(19|[2-9][0-9])[0-9]{2}-"}
_OBJECT = {"type": "object", "additionalProperties": True}

_COMMON: dict[str, Any] = {
    "userId": _ID,
    "anonymousId": _ID,
    "messageId": {"type": "string", "maxLength": 500, "description": "the SDK's idempotency key: a retried call is stored once"},
    "timestamp": _TIME,
    "originalTimestamp": _TIME,
    "sentAt": _TIME,
    "context": {
        "type": "object",
        "additionalProperties": True,
        "properties": {"timezone": {"type": "string"}, "locale": {"type": "string"}, "traits": _OBJECT},
    },
    "integrations": _OBJECT,
    "writeKey": {"type": "string", "description": "the write key (a Journeys API key), if not sent as basic auth"},
}
_WHO = [{"required": ["userId"]}, {"required": ["anonymousId"]}]

_SPECIFIC: dict[str, tuple[dict[str, Any], list[str], list[dict[str, Any]] | None]] = {
    "identify": ({"traits": _OBJECT}, [], _WHO),
    "track": ({"event": {"type": "string", "pattern": r"\S", "description": "e.g. 'Order Completed'"}, "properties": _OBJECT}, ["event"], _WHO),
    "page": ({"name": {"type": "string"}, "category": {"type": "string"}, "properties": _OBJECT}, [], _WHO),
    "screen": ({"name": {"type": "string"}, "category": {"type": "string"}, "properties": _OBJECT}, [], _WHO),
    "group": ({"groupId": _ID, "traits": _OBJECT}, ["groupId"], _WHO),
    "alias": ({"previousId": _ID}, ["userId", "previousId"], None),
}


def call_schema(call_type: str, *, in_batch: bool = False) -> dict[str, Any]:
    """One call: what its endpoint takes, or (``in_batch``) an item of a batch, which names its type."""
    properties, required, who = _SPECIFIC[call_type]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {**_COMMON, **properties, "type": {"const": call_type} if in_batch else {"type": "string"}},
        "required": [*required, *(["type"] if in_batch else [])],
        "additionalProperties": True,
    }
    if who is not None:
        schema["anyOf"] = who
    return schema


def batch_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "batch": {"type": "array", "minItems": 1, "items": {"anyOf": [call_schema(t, in_batch=True) for t in _SPECIFIC]}},
            "sentAt": _TIME,
            "context": _OBJECT,
            "writeKey": _COMMON["writeKey"],
        },
        "required": ["batch"],
        "additionalProperties": True,
    }


def request_body(call_type: str | None) -> dict[str, Any]:
    schema = batch_schema() if call_type is None else call_schema(call_type)
    return {"required": True, "content": {"application/json": {"schema": schema}}}


# How the SDKs send the write key: as the basic-auth user name, a bearer token, or in the body.
SECURITY: list[dict[str, list[str]]] = [{"SegmentWriteKey": []}, {"HTTPBearer": []}, {}]
SECURITY_SCHEMES = {"SegmentWriteKey": {"type": "http", "scheme": "basic", "description": "the write key as the user name"}}
