"""SendGrid Signed Event Webhook.

Follows Twilio SendGrid's "Getting Started with the Event Webhook Security Features" (ECDSA
P-256 / SHA-256 signature, base64 DER, in ``X-Twilio-Email-Event-Webhook-Signature``, over
``X-Twilio-Email-Event-Webhook-Timestamp`` + raw body) and "Event Webhook Reference" (a JSON
array of events; custom args are flattened into each event).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

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
    check_fresh,
    from_unix,
    load_json,
    lower_headers,
    malformed,
    client_of,
    short,
    signed_unix_time,
    text,
)

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"

_SIMPLE = {"delivered": DELIVERED, "spamreport": COMPLAINED, "open": OPENED, "click": CLICKED}


def load_public_key(public_key: str | bytes) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER SubjectPublicKeyInfo) or as PEM."""
    raw = public_key.encode() if isinstance(public_key, str) else public_key
    try:
        if b"-----BEGIN" in raw:
            key = load_pem_public_key(raw)
        else:
            key = load_der_public_key(base64.b64decode(b"".join(raw.split()), validate=True))
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"SendGrid verification key is not a public key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("SendGrid verification key must be an ECDSA P-256 public key")
    return key


def verify(
    body: bytes,
    headers: Mapping[str, str],
    *,
    public_key: str | bytes,
    now: datetime,
    max_age: timedelta = timedelta(minutes=10),
    max_future: timedelta = timedelta(minutes=5),
) -> None:
    """Raise WebhookRejected unless the request carries a fresh, valid SendGrid signature."""
    key = load_public_key(public_key)
    h = lower_headers(headers)
    signature_b64 = h.get(SIGNATURE_HEADER)
    timestamp = h.get(TIMESTAMP_HEADER)
    if not signature_b64:
        raise WebhookRejected("missing SendGrid signature")
    sent_at = signed_unix_time(timestamp, "SendGrid timestamp")
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
        key.verify(signature, (timestamp or "").encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise WebhookRejected("bad SendGrid signature") from None
    check_fresh(sent_at, now, max_age=max_age, max_future=max_future)


def parse(body: bytes) -> list[EmailEvent]:
    """The events we map from an (already verified) SendGrid batch; other kinds are skipped."""
    batch = load_json(body)
    if not isinstance(batch, list):
        raise malformed("SendGrid body must be a JSON array of events")
    events = []
    for item in batch:
        if not isinstance(item, dict):
            raise malformed("SendGrid event must be a JSON object")
        event = _event(item)
        if event is not None:
            events.append(event)
    return events


def events_from_request(
    body: bytes,
    headers: Mapping[str, str],
    *,
    public_key: str | bytes,
    now: datetime,
    max_age: timedelta = timedelta(minutes=10),
    max_future: timedelta = timedelta(minutes=5),
) -> list[EmailEvent]:
    """Verify, then parse, one SendGrid Event Webhook POST."""
    verify(body, headers, public_key=public_key, now=now, max_age=max_age, max_future=max_future)
    return parse(body)


def _event(item: dict[str, Any]) -> EmailEvent | None:
    kind = item.get("event")
    bounce = None
    if kind in _SIMPLE:
        type_ = _SIMPLE[kind]
    elif kind == "bounce":
        type_, bounce = BOUNCED, ("soft" if item.get("type") == "blocked" else "hard")
    elif kind == "dropped" and "bounced address" in str(item.get("reason") or "").lower():
        type_, bounce = BOUNCED, "hard"
    else:
        return None  # processed, deferred, unsubscribe, group_*, other drops, unknown kinds
    sg_message_id = text(item.get("sg_message_id"))
    engagement: dict[str, Any] = {}
    if type_ in (OPENED, CLICKED):
        # Who opened or clicked, and SendGrid's own verdict on opens: sg_machine_open is true
        # for an open by Apple Mail Privacy Protection or another machine ("Event Webhook
        # Reference", open events).
        engagement = client_of(item.get("useragent"), item.get("ip"))
        if type_ == OPENED and item.get("sg_machine_open") is True:
            engagement |= {"machine": "proxy", "detail": "a machine open, as SendGrid says (sg_machine_open)"}
    return EmailEvent(
        provider=PROVIDER,
        provider_event_id=text(item.get("sg_event_id")) or canonical_id(item),
        type=type_,
        email=text(item.get("email")),
        message_id=text(item.get(MESSAGE_ID_KEY)),
        esp_message_id=sg_message_id.split(".", 1)[0] if sg_message_id else None,
        occurred_at=from_unix(item.get("timestamp")),
        bounce=bounce,
        url=text(item.get("url")) if type_ == CLICKED else None,
        **({"detail": short(item.get("reason")) if type_ == BOUNCED else None} | engagement),
    )
