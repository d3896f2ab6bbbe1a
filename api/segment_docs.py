"""The Segment routes' request bodies, as JSON Schema for the OpenAPI document.

The routes read their bodies themselves (gzip, the write key in the body, Segment's
answers), so FastAPI cannot derive these; they are written here from Segment's spec and
from what journeys/intake/segment_calls.py accepts, so that a call matching the schema is
a call Journeys takes (schemathesis checks that, tests/api/test_openapi_truth.py).
"""

from __future__ import annotations

from typing import Any

from journeys.contracts.events import ID_PATTERN, TIME_SCHEMA
from journeys.contracts.json_values import JSON_OBJECT_SCHEMA, NO_NUL
from journeys.intake.segment_calls import MAX_NUMERIC_ID, MIN_NUMERIC_ID, SOMETHING

def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


# Ids are text; some SDKs send whole numbers; empty or null means not given.
_NUMBER_ID = {"type": "integer", "minimum": MIN_NUMERIC_ID, "maximum": MAX_NUMERIC_ID}
_GIVEN_ID = {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 200, "pattern": ID_PATTERN}, _NUMBER_ID]}
_ID = {"anyOf": [*_GIVEN_ID["anyOf"], {"const": ""}, {"type": "null"}]}
_ANY_ID = {"anyOf": [{"type": "string"}, _NUMBER_ID, {"type": "null"}]}
_TIME = _or_null(TIME_SCHEMA)  # ISO 8601, the years 1900 to 9998 (a naive time is UTC)
# Traits and properties end up in profiles and journeys: strict JSON (json_values.py).
_JSON = _or_null(JSON_OBJECT_SCHEMA)
_TEXT = _or_null({"type": "string", "pattern": NO_NUL})
_IGNORED = {"description": "read by Journeys only as described; any value is taken"}

_COMMON: dict[str, Any] = {
    "userId": _ID,
    "anonymousId": _ID,
    "messageId": {**_ANY_ID, "description": "the SDK's idempotency key: a retried call is stored once"},
    "timestamp": _TIME,
    "originalTimestamp": _TIME,
    "sentAt": _TIME,
    "context": _or_null(
        {
            "type": "object",
            "additionalProperties": True,
            "properties": {"timezone": _IGNORED, "locale": _IGNORED, "traits": _IGNORED},
        }
    ),
    "integrations": _IGNORED,
    "writeKey": {"description": "the write key (a Journeys API key), if not sent as basic auth"},
}
# An identify reads context.traits too (RudderStack's SDKs put traits there), if an object.
_IDENTIFY_CONTEXT = _or_null(
    {
        "type": "object",
        "additionalProperties": True,
        "properties": {
            "timezone": _IGNORED,
            "locale": _IGNORED,
            "traits": {"anyOf": [JSON_OBJECT_SCHEMA, {"type": ["string", "number", "boolean", "array", "null"]}]},
        },
    }
)
_WHO = [{"required": [name], "properties": {name: _GIVEN_ID}} for name in ("userId", "anonymousId")]

_SPECIFIC: dict[str, tuple[dict[str, Any], list[str], list[dict[str, Any]] | None]] = {
    "identify": ({"traits": _JSON, "context": _IDENTIFY_CONTEXT}, [], _WHO),
    "track": ({"event": {"type": "string", "pattern": SOMETHING, "description": "e.g. 'Order Completed'"}, "properties": _JSON}, ["event"], _WHO),
    "page": ({"name": _TEXT, "category": _TEXT, "properties": _JSON}, [], _WHO),
    "screen": ({"name": _TEXT, "category": _TEXT, "properties": _JSON}, [], _WHO),
    "group": ({"groupId": {"anyOf": [{"type": "string", "minLength": 1, "pattern": NO_NUL}, _NUMBER_ID]}, "traits": _JSON}, ["groupId"], _WHO),
    "alias": ({"userId": _GIVEN_ID, "previousId": _GIVEN_ID}, ["userId", "previousId"], None),
}


def call_schema(call_type: str, *, in_batch: bool = False) -> dict[str, Any]:
    """One call: what its endpoint takes, or (``in_batch``) an item of a batch, which names its type."""
    properties, required, who = _SPECIFIC[call_type]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {**_COMMON, **properties, "type": {"const": call_type} if in_batch else {"description": "ignored: the route names the call"}},
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
            "context": _IGNORED,
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
