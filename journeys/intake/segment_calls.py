"""The Segment tracking spec, read as Journeys' own calls: identify, track, page, screen,
group and alias (https://segment.com/docs/connections/spec/).

Pure translation, no I/O: ``parse_call`` checks one call and ``SegmentBatch`` the
envelope of a batch; journeys/intake/segment_ingest.py applies them (profiles, merges,
the event store).

How calls map:

- ``track``: an event of type ``event``, its ``properties``, ``messageId`` as the event id
  (so a retried call is stored once). Names that are not already event types are
  normalised: "Order Completed" becomes ``order_completed``.
- ``page`` / ``screen``: events of type ``page`` / ``screen``, with ``name`` and
  ``category`` added to the properties.
- ``group``: an event of type ``group`` with ``group_id`` and ``traits``.
- ``identify``: the profile is created or updated from ``traits`` (``email``, and
  ``timezone``/``locale`` from ``context`` or traits; the other traits become attributes),
  and an ``identify`` event with the traits is stored too (a journey may start on it).
- ``alias`` and an ``identify`` that carries both ids: the earlier id is merged into the
  known customer (journeys/customers/identity.py).

``timestamp`` is corrected for the sender's clock skew as Segment does it:
``receivedAt - (sentAt - timestamp)``.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from journeys.contracts.events import EVENT_TYPE_PATTERN, ID_PATTERN, MAX_TIME, MIN_TIME, RESERVED_PREFIX, Event, Moment, derived_id

CallType = Literal["identify", "track", "page", "screen", "group", "alias"]
MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
_EVENT_TYPE = re.compile(EVENT_TYPE_PATTERN)
_ID = re.compile(ID_PATTERN)


class SegmentError(ValueError):
    """A call that does not follow the spec; the message says where and what."""


# The spec's ids are strings; some SDKs send whole numbers: those JavaScript holds exactly
# (within 2**53), where every JSON reader, comparing as integers or as doubles, agrees.
MIN_NUMERIC_ID, MAX_NUMERIC_ID = -(2**53 - 1), 2**53 - 1
# What an event name needs: something besides white space.
SOMETHING = r"\S"


def _id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    # 42.0 is the whole number 42 to JSON.
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if whole and not isinstance(value, bool) and MIN_NUMERIC_ID <= value <= MAX_NUMERIC_ID:
        return str(int(value))
    raise ValueError(f"a string (or a whole number from {MIN_NUMERIC_ID} to {MAX_NUMERIC_ID})")


class SegmentCall(BaseModel):
    """One call as the spec defines it; fields we do not use are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    type: CallType
    userId: str | None = None
    anonymousId: str | None = None
    messageId: str | None = None
    timestamp: Moment | None = None
    originalTimestamp: Moment | None = None
    sentAt: Moment | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    event: str | None = None
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    groupId: str | None = None
    previousId: str | None = None

    @field_validator("userId", "anonymousId", "messageId", "groupId", "previousId", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> str | None:
        return _id(value)

    @field_validator("properties", "traits", "context", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def who(self) -> str:
        """The id the call is about: the user id if known, else the anonymous id."""
        return self.userId or self.anonymousId or ""


class SegmentBatch(BaseModel):
    model_config = ConfigDict(extra="allow")

    batch: list[dict[str, Any]] = Field(min_length=1)
    sentAt: Moment | None = None  # (writeKey, when sent in the body, is read by the route)


def parse_call(raw: Any, call_type: CallType | None, where: str) -> SegmentCall:
    """Check one call against the spec; ``call_type`` is the endpoint's (None in a batch)."""
    if not isinstance(raw, dict):
        raise SegmentError(f"{where}: expected a JSON object")
    data = dict(raw)
    if call_type is not None:
        data["type"] = call_type
    try:
        call = SegmentCall.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        raise SegmentError(f"{where}.{field}: {first['msg']}") from None
    if call.type == "alias":
        if not call.userId or not call.previousId:
            raise SegmentError(f"{where}: alias needs userId and previousId")
    elif not call.who:
        raise SegmentError(f"{where}: {call.type} needs userId or anonymousId")
    if call.type == "track" and not (call.event and re.search(SOMETHING, call.event)):
        raise SegmentError(f"{where}: track needs event (the event name)")
    if call.type == "group" and not call.groupId:
        raise SegmentError(f"{where}: group needs groupId")
    for name, value in (("userId", call.userId), ("anonymousId", call.anonymousId), ("previousId", call.previousId)):
        if value is not None and (len(value) > 200 or not _ID.fullmatch(value)):
            raise SegmentError(f"{where}.{name}: at most 200 characters, no spaces or slashes")
    return call


def event_type(name: str) -> str:
    """A Segment event name as a Journeys event type ("Order Completed" -> "order_completed")."""
    if _EVENT_TYPE.fullmatch(name) and len(name) <= 100:
        normalised = name
    else:
        normalised = (re.sub(r"[^a-z0-9_.\-]+", "_", name.strip().lower()).strip("_.-") or "event")[:100]
    # The engine's own types (one-off sends, merges) cannot be sent from an app: an app's
    # "journeys.message" is its own event, "journeys_message".
    if normalised.startswith(RESERVED_PREFIX):
        normalised = "journeys_" + normalised[len(RESERVED_PREFIX) :]
    return normalised


def corrected_timestamp(call: SegmentCall, batch_sent_at: datetime | None, received_at: datetime) -> datetime:
    """When it happened, on our clock: the sender's clock skew (sentAt vs our receivedAt) removed."""
    happened = call.timestamp or call.originalTimestamp
    sent_at = call.sentAt or batch_sent_at
    if happened is None:
        return received_at
    happened = _aware(happened)
    if sent_at is None:
        return happened
    try:
        corrected = received_at - (_aware(sent_at) - happened)
    except OverflowError:
        corrected = MIN_TIME - timedelta(days=1)
    # A device clock so wrong that the correction leaves the calendar: the time as sent.
    return corrected if MIN_TIME <= corrected <= MAX_TIME else happened


def event_id(call: SegmentCall) -> str:
    """The messageId (the SDKs' idempotency key) as the event id; hashed if it would not fit."""
    if call.messageId and len(call.messageId) <= 200 and _ID.fullmatch(call.messageId):
        return call.messageId
    if call.messageId:
        return derived_id("seg_", call.messageId)
    return "seg_" + uuid.uuid4().hex


def to_event(call: SegmentCall, customer_id: str, at: datetime, where: str = "body") -> Event | None:
    """The event a call stores (alias stores none)."""
    if call.type == "alias":
        return None
    if call.type == "track":
        kind, properties = event_type(call.event or ""), dict(call.properties)
    elif call.type in ("page", "screen"):
        kind = call.type
        properties = {**call.properties, **{k: v for k, v in (("name", call.name), ("category", call.category)) if v}}
    elif call.type == "group":
        kind, properties = "group", {"group_id": call.groupId, "traits": call.traits}
    else:
        kind, properties = "identify", dict(call.traits)
    try:
        return Event(id=event_id(call), type=kind, customer_id=customer_id, properties=properties, timestamp=at)
    except ValidationError as exc:  # e.g. properties that are not strict JSON, or too large
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or "call"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SegmentError(f"{where}.{field}: {message}") from None



def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
