"""The event: what apps send, what the event store keeps, what journeys receive.

Workflow code imports this module through the sandbox, so it holds pydantic models and
nothing that does I/O.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_BATCH = 1000

# Event types read like "cart.abandoned": lower case words joined by dots, underscores
# or dashes. Keeping them tame keeps them safe in workflow ids and search queries.
EVENT_TYPE_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"
ID_PATTERN = r"^[^\s/]+$"
# Event types apps may not send themselves: the engine's own (one-off sends, merges).
RESERVED_PREFIX = "journeys."


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


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[Event] = Field(min_length=1, max_length=MAX_BATCH)


class EventsAccepted(BaseModel):
    accepted: int
    duplicates: int
    duplicate_ids: list[str] = Field(default_factory=list)
