"""The event: what apps send, what the event store keeps, what journeys receive.

Workflow code imports this module through the sandbox, so it holds pydantic models and
nothing that does I/O.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from journeys.contracts import json_values

MAX_BATCH = 1000

# Event types read like "cart.abandoned": lower case words joined by dots, underscores
# or dashes. Keeping them tame keeps them safe in workflow ids and search queries.
EVENT_TYPE_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"
# Ids: no whitespace, no slash (they go into workflow ids and URLs), no control characters,
# and not "." or ".." (a URL path would read those as "here" and "up"). Spelled out, not
# as \s, so that every regex engine that reads it (Python's, pydantic's Rust one, a
# client's JavaScript one) agrees on what it allows.
_NEVER = r"/\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_ID_CHAR = rf"[^{_NEVER}]"
_NOT_DOT = rf"[^{_NEVER}.]"
ID_PATTERN = rf"^({_NOT_DOT}{_ID_CHAR}*|\.{_NOT_DOT}{_ID_CHAR}*|\.\.{_ID_CHAR}+)$"
# Timestamps Journeys stores: ISO 8601 text whose year, as written, is 1900 to 9998, so
# that no offset can carry it off Python's calendar (years 1 to 9999); a naive one
# ("2026-01-01T00:00:00", the most common form) is UTC.
MIN_YEAR, MAX_YEAR = 1900, 9998
MIN_TIME = datetime(MIN_YEAR, 1, 1, tzinfo=timezone.utc)
MAX_TIME = datetime(MAX_YEAR, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
TIME_PATTERN = r"^(19[0-9]{2}|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-"
TIME_SCHEMA = {"type": "string", "format": "date-time", "pattern": TIME_PATTERN}
# Event types apps may not send themselves: the engine's own (one-off sends, merges).
RESERVED_PREFIX = "journeys."


def derived_id(prefix: str, *parts: str) -> str:
    """A deterministic event id from business keys: the same request twice is one event."""
    return prefix + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


def as_utc(moment: datetime) -> datetime:
    """The moment in UTC (naive means UTC); ValueError unless its year is 1900 to 9998."""
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise ValueError(f"{moment.isoformat()} is out of range: give a time between the years {MIN_YEAR} and {MAX_YEAR}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


_DATE_AND_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_text(value: Any) -> Any:
    # pydantic would also take a number, or text of one (seconds since 1970), or a date
    # alone; the API takes a date and time, as documented.
    if isinstance(value, datetime) or (isinstance(value, str) and _DATE_AND_TIME.match(value)):
        return value
    raise ValueError("an ISO 8601 date and time, e.g. '2026-01-01T09:30:00Z' (naive means UTC)")


# A timestamp as the API takes it: the rule above, one schema for the OpenAPI document.
Moment = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(as_utc), WithJsonSchema(TIME_SCHEMA)]


class Event(BaseModel):
    """One thing that happened to one customer. ``id`` is the client's idempotency key."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)
    type: str = Field(min_length=1, max_length=100, pattern=EVENT_TYPE_PATTERN)
    customer_id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)
    properties: dict[str, Any] = Field(default_factory=dict, json_schema_extra=json_values.STRICT_JSON_MARK)
    timestamp: Moment | None = None

    @field_validator("properties")
    @classmethod
    def _strict_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        return json_values.check(value, "properties")

    @model_validator(mode="after")
    def _fits_temporal(self) -> "Event":
        json_values.check_size(self, "the event")
        return self


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[Event] = Field(min_length=1, max_length=MAX_BATCH)


class EventsAccepted(BaseModel):
    accepted: int
    duplicates: int
    duplicate_ids: list[str] = Field(default_factory=list)
