"""Postmark webhooks.

Follows Postmark's "Webhooks overview" (protect the URL with HTTP basic auth credentials put in
the webhook URL, ``https://user:pass@host/path``) and the per-type pages "Delivery webhook",
"Bounce webhook", "Spam complaint webhook", "Open tracking webhook", "Click webhook": one JSON
object per POST, told apart by ``RecordType``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
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
    canonical_id,
    from_iso,
    load_json,
    lower_headers,
    client_of,
    malformed,
    short,
    text,
)

PROVIDER = "postmark"

HARD_BOUNCE_TYPES = frozenset({"HardBounce", "BadEmailAddress"})

# RecordType -> (our type, field holding the recipient, field holding the time)
_RECORDS = {
    "Delivery": (DELIVERED, "Recipient", "DeliveredAt"),
    "Bounce": (BOUNCED, "Email", "BouncedAt"),
    "SpamComplaint": (COMPLAINED, "Email", "BouncedAt"),
    "Open": (OPENED, "Recipient", "ReceivedAt"),
    "Click": (CLICKED, "Recipient", "ReceivedAt"),
}


def verify(headers: Mapping[str, str], *, username: str, password: str) -> None:
    """Raise WebhookRejected unless the Authorization header is Basic with these credentials."""
    authorization = lower_headers(headers).get("authorization", "")
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not credentials:
        raise WebhookRejected("missing basic auth")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected("malformed basic auth") from None
    user, sep, secret = decoded.partition(b":")
    user_ok = hmac.compare_digest(user, username.encode())
    password_ok = hmac.compare_digest(secret, password.encode())
    if not (sep and user_ok and password_ok):
        raise WebhookRejected("wrong basic auth credentials")


def parse(body: bytes) -> list[EmailEvent]:
    """The event of one (already authenticated) Postmark webhook POST; none for skipped kinds."""
    record = load_json(body)
    if not isinstance(record, dict):
        raise malformed("Postmark body must be a JSON object")
    known = _RECORDS.get(str(record.get("RecordType")))
    if known is None:
        return []  # SubscriptionChange, inbound, unknown kinds
    type_, email_field, time_field = known
    bounce = None
    detail = None
    event_id = canonical_id(record)
    if type_ in (BOUNCED, COMPLAINED) and text(record.get("ID")):
        event_id = str(record["ID"])  # the bounce ID; spam complaints are bounce records too
    if type_ == BOUNCED:
        bounce = "hard" if record.get("Type") in HARD_BOUNCE_TYPES else "soft"
        detail = short(record.get("Details")) or short(record.get("Description"))
    metadata = record.get("Metadata")
    engagement: dict[str, Any] = {}
    if type_ in (OPENED, CLICKED):
        geo = record.get("Geo")  # "Open tracking webhook", "Click webhook": UserAgent, Geo.IP
        engagement = client_of(record.get("UserAgent"), geo.get("IP") if isinstance(geo, dict) else None)
    return [
        EmailEvent(
            provider=PROVIDER,
            provider_event_id=event_id,
            type=type_,
            email=text(record.get(email_field)) or text(record.get("Recipient")) or text(record.get("Email")),
            message_id=text(metadata.get(MESSAGE_ID_KEY)) if isinstance(metadata, dict) else None,
            esp_message_id=text(record.get("MessageID")),
            occurred_at=from_iso(record.get(time_field)),
            bounce=bounce,
            url=text(record.get("OriginalLink")) if type_ == CLICKED else None,
            detail=detail,
            **engagement,
        )
    ]


def events_from_request(body: bytes, headers: Mapping[str, str], *, username: str, password: str) -> list[EmailEvent]:
    """Authenticate, then parse, one Postmark webhook POST."""
    verify(headers, username=username, password=password)
    return parse(body)
