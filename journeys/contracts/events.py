"""The event: what apps send, what the event store keeps, what journeys receive.

Workflow code imports this module through the sandbox, so it holds pydantic models and
nothing that does I/O.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from journeys.contracts import json_values

MAX_BATCH = 1000

# Event types read like "cart.abandoned": lower case words joined by dots, underscores
# or dashes. Keeping them tame keeps them safe in workflow ids and search queries.
EVENT_TYPE_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"
# Ids: no whitespace, no slash (they go into workflow ids and URLs), no control characters,
# and not "." or ".." (a URL path would read those as "here" and "up").
_ID_CHAR = r"[^\s/\x00-\x1f\x7f]"
_NOT_DOT = r"[^\s/\x00-\x1f\x7f.]"
ID_PATTERN = rf"^({_NOT_DOT}{_ID_CHAR}*|\.{_NOT_DOT}{_ID_CHAR}*|\.\.{_ID_CHAR}+)$"
# Timestamps Journeys stores; a naive one ("2026-01-01T00:00:00", the most common form) is UTC.
MIN_TIME = datetime(1900, 1, 1, tzinfo=timezone.utc)
MAX_TIME = datetime(9999, 12, 30, tzinfo=timezone.utc)
# Event types apps may not send themselves: the engine's own (one-off sends, merges).
RESERVED_PREFIX = "journeys."


# Ids go into workflow ids, which Temporal caps at 1,000 bytes: ids are capped in bytes
# too (an emoji is four), so every workflow id built from them fits.
MAX_ID_BYTES = 200


def fits_in_bytes(value: str, limit: int = MAX_ID_BYTES) -> str:
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise ValueError(f"at most {limit} bytes in UTF-8 (this one is {size})")
    return value


def derived_id(prefix: str, *parts: str) -> str:
    """A deterministic event id from business keys: the same request twice is one event."""
    return prefix + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


class Event(BaseModel):
    """One thing that happened to one customer. ``id`` is the client's idempotency key."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)
    type: str = Field(min_length=1, max_length=100, pattern=EVENT_TYPE_PATTERN)
    customer_id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)
    properties: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime | None = None

    @field_validator("properties")
    @classmethod
    def _strict_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        return json_values.check(value, "properties")

    @field_validator("id", "customer_id")
    @classmethod
    def _fits(cls, value: str) -> str:
        return fits_in_bytes(value)

    @field_validator("timestamp")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @model_validator(mode="after")
    def _fits_temporal(self) -> "Event":
        json_values.check_size(self, "the event")
        return self


def as_utc(moment: datetime) -> datetime:
    """The moment in UTC (naive means UTC); ValueError outside the years 1900 to 9999."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        moment = moment.astimezone(timezone.utc)
        if MIN_TIME <= moment <= MAX_TIME:
            return moment
    except OverflowError:
        pass
    raise ValueError(f"{moment.isoformat()} is out of range: give a time between the years 1900 and 9999")


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[Event] = Field(min_length=1, max_length=MAX_BATCH)


class EventsAccepted(BaseModel):
    accepted: int
    duplicates: int
    duplicate_ids: list[str] = Field(default_factory=list)
