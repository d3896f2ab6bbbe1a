"""Amazon SES events delivered through Amazon SNS (HTTPS subscription).

Follows the SNS Developer Guide, "Verifying the signatures of Amazon SNS messages" (string to
sign, SignatureVersion 1 = RSA/SHA1, 2 = RSA/SHA256, certificate from ``SigningCertURL`` which
must be an SNS host) and "Parsing message formats" (Notification / SubscriptionConfirmation /
UnsubscribeConfirmation), and the SES Developer Guide, "Contents of event data that Amazon SES
publishes to Amazon SNS" (``eventType``) and, for the older notification format,
"Amazon SNS notification contents for Amazon SES" (``notificationType``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from journeys.providers.email_events import (
    BOUNCED,
    CLICKED,
    COMPLAINED,
    DELIVERED,
    MESSAGE_ID_KEY,
    OPENED,
    EmailEvent,
    WebhookRejected,
    client_of,
    from_iso,
    load_json,
    lower_headers,
    malformed,
    short,
    text,
)

PROVIDER = "ses"
DEFAULT_HOST_PATTERN = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
DEFAULT_SCHEMES = frozenset({"https"})

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

_SIGNED_FIELDS = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    UNSUBSCRIBE_CONFIRMATION: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

_TYPES = {"Delivery": DELIVERED, "Bounce": BOUNCED, "Complaint": COMPLAINED, "Open": OPENED, "Click": CLICKED}

_CACHE_MAX = 32
_CERT_CACHE: dict[str, x509.Certificate] = {}


@dataclass(frozen=True)
class SnsResult:
    """What one SNS POST asks of us: events to record, or a subscription to confirm (GET subscribe_url)."""

    message_type: str  # "Notification" | "SubscriptionConfirmation" | "UnsubscribeConfirmation"
    topic_arn: str
    events: list[EmailEvent] = field(default_factory=list)
    subscribe_url: str | None = None  # set for SubscriptionConfirmation, already host-checked


async def events_from_request(
    body: bytes,
    headers: Mapping[str, str],
    *,
    fetch_certificate: Callable[[str], Awaitable[bytes]],
    topic_arns: Collection[str] = (),
    host_pattern: re.Pattern[str] = DEFAULT_HOST_PATTERN,
    schemes: Collection[str] = DEFAULT_SCHEMES,
    cert_cache: MutableMapping[str, x509.Certificate] | None = None,
) -> SnsResult:
    """Verify one SNS POST and return what it carries.

    ``fetch_certificate(url)`` returns the PEM at an already allow-listed ``SigningCertURL``;
    certificates are cached by URL in ``cert_cache`` (a module-level bounded dict by default).
    ``topic_arns`` empty accepts any topic.
    """
    message = load_json(body)
    if not isinstance(message, dict):
        raise malformed("SNS body must be a JSON object")
    message_type = message.get("Type")
    if message_type not in _SIGNED_FIELDS:
        raise malformed(f"unknown SNS message type {message_type!r}")
    header_type = lower_headers(headers).get("x-amz-sns-message-type")
    if header_type is not None and header_type != message_type:
        raise malformed("x-amz-sns-message-type header does not match the message Type")
    topic_arn = message.get("TopicArn")
    if not isinstance(topic_arn, str) or (topic_arns and topic_arn not in topic_arns):
        raise WebhookRejected(f"SNS topic not allowed: {topic_arn!r}")
    await verify(message, fetch_certificate=fetch_certificate, host_pattern=host_pattern, schemes=schemes,
                 cert_cache=cert_cache)
    if message_type == NOTIFICATION:
        return SnsResult(NOTIFICATION, topic_arn, events=parse_notification(message))
    subscribe_url = message.get("SubscribeURL")
    if message_type == SUBSCRIPTION_CONFIRMATION:
        if not isinstance(subscribe_url, str):
            raise malformed("SubscriptionConfirmation without SubscribeURL")
        check_url(subscribe_url, host_pattern=host_pattern, schemes=schemes)
        return SnsResult(SUBSCRIPTION_CONFIRMATION, topic_arn, subscribe_url=subscribe_url)
    return SnsResult(UNSUBSCRIBE_CONFIRMATION, topic_arn)


def check_url(url: str, *, host_pattern: re.Pattern[str] = DEFAULT_HOST_PATTERN,
              schemes: Collection[str] = DEFAULT_SCHEMES) -> None:
    """Reject (401) a URL that is not of an allowed scheme on an allow-listed host."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise WebhookRejected(f"bad SNS URL: {url!r}") from None
    if parts.scheme.lower() not in schemes or not host_pattern.fullmatch(host) or parts.username is not None:
        raise WebhookRejected(f"SNS URL not allowed: {url!r}")


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical "Name\\nValue\\n" string SNS signs, for the fields of the message's Type."""
    lines = []
    for name in _SIGNED_FIELDS.get(str(message.get("Type")), ()):
        value = message.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise WebhookRejected(f"SNS message lacks signed field {name}")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode()


async def verify(
    message: Mapping[str, Any],
    *,
    fetch_certificate: Callable[[str], Awaitable[bytes]],
    host_pattern: re.Pattern[str] = DEFAULT_HOST_PATTERN,
    schemes: Collection[str] = DEFAULT_SCHEMES,
    cert_cache: MutableMapping[str, x509.Certificate] | None = None,
) -> None:
    """Raise WebhookRejected unless the SNS message is signed by the certificate at its (allowed) URL."""
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise WebhookRejected(f"unsupported SNS SignatureVersion {message.get('SignatureVersion')!r}")
    cert_url = message.get("SigningCertURL")
    if not isinstance(cert_url, str):
        raise WebhookRejected("SNS message lacks SigningCertURL")
    check_url(cert_url, host_pattern=host_pattern, schemes=schemes)  # before any fetch
    try:
        signature = base64.b64decode(str(message.get("Signature") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected("bad SNS signature encoding") from None
    data = string_to_sign(message)
    public_key = (await _certificate(cert_url, fetch_certificate, cert_cache)).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise WebhookRejected("SNS signing certificate does not hold an RSA key")
    try:
        public_key.verify(signature, data, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise WebhookRejected("bad SNS signature") from None


async def _certificate(
    url: str,
    fetch: Callable[[str], Awaitable[bytes]],
    cache: MutableMapping[str, x509.Certificate] | None,
) -> x509.Certificate:
    store = _CERT_CACHE if cache is None else cache
    cached = store.get(url)
    if cached is not None:
        return cached
    try:
        certificate = x509.load_pem_x509_certificate(await fetch(url))
    except ValueError:
        raise WebhookRejected("SNS signing certificate is not a PEM certificate") from None
    if cache is None and len(_CERT_CACHE) >= _CACHE_MAX:
        _CERT_CACHE.pop(next(iter(_CERT_CACHE)))
    store[url] = certificate
    return certificate


def parse_notification(message: Mapping[str, Any]) -> list[EmailEvent]:
    """The events in a (verified) SNS Notification whose Message is an SES event or notification."""
    try:
        ses = json.loads(message.get("Message") or "")
    except (TypeError, ValueError):
        raise malformed("SNS Message is not an SES JSON event") from None
    if not isinstance(ses, dict):
        raise malformed("SNS Message is not an SES JSON event")
    kind = ses.get("eventType") or ses.get("notificationType")
    type_ = _TYPES.get(str(kind))
    if type_ is None:
        return []  # Send, Reject, Rendering Failure, DeliveryDelay, Subscription, unknown kinds
    mail = ses.get("mail")
    if not isinstance(mail, dict):
        raise malformed("SES event lacks the mail object")
    section = ses.get(str(kind).lower())
    section = section if isinstance(section, dict) else {}
    our_id = _our_message_id(mail.get("tags"))
    esp_id = text(mail.get("messageId"))
    occurred_at = from_iso(section.get("timestamp") or mail.get("timestamp"))
    sns_id = str(message.get("MessageId"))

    def event(event_id: str, email: str | None, **extra: str | None) -> EmailEvent:
        return EmailEvent(PROVIDER, event_id, type_, email, our_id, esp_id, occurred_at, **extra)

    if type_ in (BOUNCED, COMPLAINED):
        key = "bouncedRecipients" if type_ == BOUNCED else "complainedRecipients"
        recipients = [r for r in _list(section.get(key)) if isinstance(r, dict)]
        if type_ == BOUNCED:
            bounce = "hard" if section.get("bounceType") == "Permanent" else "soft"
            return [
                event(event_id, text(r.get("emailAddress")), bounce=bounce, detail=short(r.get("diagnosticCode")))
                for event_id, r in zip(_ids(sns_id, len(recipients)), recipients)
            ]
        detail = short(section.get("complaintFeedbackType"))
        return [
            event(event_id, text(r.get("emailAddress")), detail=detail)
            for event_id, r in zip(_ids(sns_id, len(recipients)), recipients)
        ]
    if type_ == DELIVERED:
        addresses = [text(a) for a in _list(section.get("recipients"))] or [_first(mail.get("destination"))]
    else:
        addresses = [_first(mail.get("destination"))]
    url = text(section.get("link")) if type_ == CLICKED else None
    # Open and Click events: "userAgent" and "ipAddress" in the open or click object.
    engagement = client_of(section.get("userAgent"), section.get("ipAddress")) if type_ in (OPENED, CLICKED) else {}
    return [event(event_id, address, url=url, **engagement) for event_id, address in zip(_ids(sns_id, len(addresses)), addresses)]


def _ids(sns_id: str, count: int) -> list[str]:
    return [sns_id] if count == 1 else [f"{sns_id}:{i}" for i in range(count)]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _first(values: Any) -> str | None:
    return text(values[0]) if isinstance(values, list) and values else None


def _our_message_id(tags: Any) -> str | None:
    """SES event tags map each name to a list of values."""
    if not isinstance(tags, dict):
        return None
    value = tags.get(MESSAGE_ID_KEY)
    return _first(value) if isinstance(value, list) else text(value)
