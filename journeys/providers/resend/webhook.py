"""Resend webhooks, signed by Svix.

Follows Resend's "Verify Webhooks Requests" and "Event Types" docs, and Svix's "Verifying
Webhooks Manually": headers ``svix-id``, ``svix-timestamp``, ``svix-signature`` (space-separated
``v1,<base64>`` entries); the signed content is ``{svix-id}.{svix-timestamp}.{raw body}``, the key
the base64 decoding of the secret after ``whsec_``, the MAC HMAC-SHA256; timestamps more than
5 minutes away from now are rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from journeys.providers.email_events import (
    BOUNCED,
    CLICKED,
    COMPLAINED,
    DELIVERED,
    MESSAGE_ID_KEY,
    OPENED,
    EmailEvent,
    WebhookRejected,
    check_fresh,
    from_iso,
    load_json,
    lower_headers,
    client_of,
    malformed,
    short,
    signed_unix_time,
    text,
)

PROVIDER = "resend"

_TYPES = {t: t for t in (DELIVERED, BOUNCED, COMPLAINED, OPENED, CLICKED)}


def secret_key(secret: str) -> bytes:
    """The signing key in a `whsec_...` secret; ValueError if the secret is not one."""
    encoded = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("Resend webhook secret must be 'whsec_' followed by base64") from None


def verify(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: str,
    now: datetime,
    tolerance: timedelta = timedelta(minutes=5),
) -> str:
    """Raise WebhookRejected unless the Svix signature is valid and fresh; returns the svix-id."""
    key = secret_key(secret)
    h = lower_headers(headers)
    msg_id, timestamp, signatures = h.get("svix-id"), h.get("svix-timestamp"), h.get("svix-signature")
    if not (msg_id and signatures):
        raise WebhookRejected("missing Svix headers")
    sent_at = signed_unix_time(timestamp, "svix-timestamp")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    matched = False
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(expected, signature.encode()):
            matched = True
    if not matched:
        raise WebhookRejected("bad Svix signature")
    check_fresh(sent_at, now, max_age=tolerance, max_future=tolerance)
    return msg_id


def parse(body: bytes, *, event_id: str) -> list[EmailEvent]:
    """The event of one (verified) Resend webhook; ``event_id`` is the svix-id. Skipped kinds give []."""
    payload = load_json(body)
    if not isinstance(payload, dict):
        raise malformed("Resend body must be a JSON object")
    type_ = _TYPES.get(str(payload.get("type")))
    if type_ is None:
        return []  # email.sent, email.delivery_delayed, email.failed, contact.*, domain.*, unknown kinds
    data = payload.get("data")
    if not isinstance(data, dict):
        raise malformed("Resend event lacks the data object")
    bounce = detail = url = None
    engagement: dict[str, Any] = {}
    if type_ in (OPENED, CLICKED):  # data.click (and data.open, if given): ipAddress, userAgent
        seen = data.get("click" if type_ == CLICKED else "open")
        if isinstance(seen, dict):
            engagement = client_of(seen.get("userAgent"), seen.get("ipAddress"))
    if type_ == BOUNCED:
        info = data.get("bounce")
        info = info if isinstance(info, dict) else {}
        bounce = "hard" if info.get("type") == "Permanent" else "soft"
        detail = short(info.get("message"))
    elif type_ == CLICKED:
        click = data.get("click")
        url = text(click.get("link")) if isinstance(click, dict) else None
    to = data.get("to")
    return [
        EmailEvent(
            provider=PROVIDER,
            provider_event_id=event_id,
            type=type_,
            email=text(to[0]) if isinstance(to, list) and to else text(to),
            message_id=_tag(data.get("tags"), MESSAGE_ID_KEY),
            esp_message_id=text(data.get("email_id")),
            occurred_at=from_iso(payload.get("created_at") or data.get("created_at")),
            bounce=bounce,
            url=url,
            detail=detail,
            **engagement,
        )
    ]


def events_from_request(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: str,
    now: datetime,
    tolerance: timedelta = timedelta(minutes=5),
) -> list[EmailEvent]:
    """Verify, then parse, one Resend webhook POST."""
    event_id = verify(body, headers, secret=secret, now=now, tolerance=tolerance)
    return parse(body, event_id=event_id)


def _tag(tags: Any, name: str) -> str | None:
    """A tag's value; Resend gives tags as an object or as a list of {"name", "value"}."""
    if isinstance(tags, dict):
        return text(tags.get(name))
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, dict) and tag.get("name") == name:
                return text(tag.get("value"))
    return None
