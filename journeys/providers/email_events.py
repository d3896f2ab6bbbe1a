"""What every provider's webhook verifier shares: the normalised email event, the rejection, small parsers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from journeys.contracts import json_values
from journeys.contracts.email_event_types import BOUNCED, CLICKED, COMPLAINED, DELIVERED, OPENED

# What an ESP's webhook can report (unsubscribes come through our own link).
EVENT_TYPES = frozenset({DELIVERED, BOUNCED, COMPLAINED, OPENED, CLICKED})
__all__ = ["BOUNCED", "CLICKED", "COMPLAINED", "DELIVERED", "OPENED", "EVENT_TYPES"]

# The key under which we attach our own message id (custom args, metadata, tags, user variables).
MESSAGE_ID_KEY = "journeys_message_id"

_DETAIL_MAX = 500


class WebhookRejected(Exception):
    """The request is not to be trusted (401: signature, auth, stale, replay) or not understood (400)."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class EmailEvent:
    provider: str  # "sendgrid" | "mailgun" | "postmark" | "ses" | "resend"
    provider_event_id: str  # unique per provider event, for deduplication
    type: str  # one of EVENT_TYPES
    email: str | None  # recipient address
    message_id: str | None  # our message id ("journeys_message_id" we attached when sending)
    esp_message_id: str | None  # the provider's message id
    occurred_at: datetime  # aware, UTC
    bounce: str | None = None  # "hard" | "soft" for email.bounced
    url: str | None = None  # for email.clicked
    detail: str | None = None  # provider's reason text, shortened; for a machine, who it was
    # Opens and clicks: who made them, as the ESP saw it (None: not reported), told apart
    # from a person's by the same rules as our own tracking (journeys/intake/machines.py).
    user_agent: str | None = None
    address: str | None = None  # the client's IP address
    machine: str | None = None  # "proxy" | "scanner" when the ESP itself says a machine made it


def client_of(user_agent: Any, address: Any) -> dict[str, str | None]:
    """The ``user_agent`` and ``address`` fields of an open or click, from what a webhook gave."""
    agent = text(user_agent)
    return {"user_agent": agent[:1000] if agent is not None else None, "address": short(address)}


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers keyed by lowercased name (HTTP header names are case-insensitive)."""
    return {str(name).lower(): value for name, value in headers.items()}


def load_json(body: bytes) -> Any:
    """The parsed body; WebhookRejected(400) when it is not JSON (or nested past reason)."""
    try:
        return json_values.parse(body)
    except json_values.NotStrictJson as exc:
        raise WebhookRejected(f"malformed JSON body: {exc}", status=400) from None


def malformed(message: str) -> WebhookRejected:
    return WebhookRejected(message, status=400)


def canonical_id(obj: Any) -> str:
    """sha256 hex of the canonical JSON of obj: a stable id for events the provider gives none."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def text(value: Any) -> str | None:
    """value if it is a non-empty string (numbers are turned into strings), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str) and value:
        return value
    return None


def short(value: Any) -> str | None:
    s = text(value)
    if s is None:
        return None
    s = " ".join(s.split())
    return s if len(s) <= _DETAIL_MAX else s[: _DETAIL_MAX - 1] + "…"


def from_unix(value: Any) -> datetime:
    """Aware UTC datetime from unix seconds (int, float or numeric string); 400 otherwise."""
    try:
        if isinstance(value, bool):
            raise TypeError
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        raise malformed(f"bad unix timestamp: {value!r}") from None


def from_iso(value: Any) -> datetime:
    """Aware UTC datetime from an ISO 8601 string (naive means UTC); 400 otherwise."""
    if not isinstance(value, str):
        raise malformed(f"bad ISO timestamp: {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise malformed(f"bad ISO timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def check_fresh(sent_at: datetime, now: datetime, *, max_age: timedelta, max_future: timedelta) -> None:
    """Reject (401) a signed timestamp older than max_age or further than max_future ahead of now."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if sent_at < now - max_age:
        raise WebhookRejected("stale webhook timestamp")
    if sent_at > now + max_future:
        raise WebhookRejected("webhook timestamp is in the future")


def signed_unix_time(value: str | None, what: str) -> datetime:
    """A unix-seconds timestamp that is part of the signed material; missing/garbled is a 401."""
    if not value:
        raise WebhookRejected(f"missing {what}")
    try:
        return datetime.fromtimestamp(int(value.strip()), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise WebhookRejected(f"bad {what}: {value!r}") from None
