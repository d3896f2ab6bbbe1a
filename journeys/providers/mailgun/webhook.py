"""Mailgun webhooks (JSON).

Follows Mailgun's "Webhooks" guide, "Securing webhooks" section: the body is
``{"signature": {"timestamp", "token", "signature"}, "event-data": {...}}`` and ``signature`` is
the hex HMAC-SHA256, keyed with the HTTP webhook signing key, of ``timestamp + token``; receivers
should reject old timestamps and tokens seen before. Event fields follow Mailgun's "Events"
reference (``event``, ``id``, ``timestamp``, ``recipient``, ``severity``, ``user-variables`` ...).
"""

from __future__ import annotations

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
    canonical_id,
    check_fresh,
    from_unix,
    load_json,
    client_of,
    malformed,
    short,
    signed_unix_time,
    text,
)

PROVIDER = "mailgun"

# Mailgun's client-info.bot values ("Open and Click Bot Detection").
_BOTS = {"apple": "Apple Mail Privacy Protection", "gmail": "Gmail's image proxy", "generic": "a firewall or anti-virus scanner"}
_TYPES = {"delivered": DELIVERED, "failed": BOUNCED, "complained": COMPLAINED, "opened": OPENED, "clicked": CLICKED}


def events_from_request(
    body: bytes,
    headers: Mapping[str, str],
    *,
    signing_key: str,
    now: datetime,
    max_age: timedelta = timedelta(minutes=5),
    max_future: timedelta = timedelta(minutes=5),
) -> tuple[list[EmailEvent], str]:
    """Verify one Mailgun webhook POST: its event (none if a kind we skip) and its token.

    The caller refuses a token it has seen before (replay protection needs its database);
    the token is only returned once signature and timestamp are good. ``headers`` are not
    needed by Mailgun's scheme (the signature travels in the body): a uniform interface.
    """
    payload = load_json(body)
    if not isinstance(payload, dict):
        raise malformed("Mailgun body must be a JSON object")
    token = verify(payload.get("signature"), signing_key=signing_key, now=now, max_age=max_age, max_future=max_future)
    data = payload.get("event-data")
    if not isinstance(data, dict):
        raise malformed("Mailgun body has no event-data object")
    event = parse_event(data)
    return ([event] if event is not None else []), token


def verify(
    signature: Any,
    *,
    signing_key: str,
    now: datetime,
    max_age: timedelta = timedelta(minutes=5),
    max_future: timedelta = timedelta(minutes=5),
) -> str:
    """The token, if ``signature`` (the body's "signature" object) is valid and fresh;
    WebhookRejected otherwise."""
    if not isinstance(signature, dict):
        raise WebhookRejected("missing Mailgun signature")
    timestamp, token, digest = (signature.get(k) for k in ("timestamp", "token", "signature"))
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        timestamp = str(timestamp)
    if not (isinstance(timestamp, str) and isinstance(token, str) and isinstance(digest, str) and token):
        raise WebhookRejected("incomplete Mailgun signature")
    if not (timestamp.isascii() and token.isascii() and digest.isascii()):  # what Mailgun signs is ASCII
        raise WebhookRejected("malformed Mailgun signature")
    sent_at = signed_unix_time(timestamp, "Mailgun timestamp")
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, digest.strip().lower()):
        raise WebhookRejected("bad Mailgun signature")
    check_fresh(sent_at, now, max_age=max_age, max_future=max_future)
    return token


def parse_event(data: dict[str, Any]) -> EmailEvent | None:
    """The normalised event for one Mailgun event-data object; None for kinds we skip."""
    type_ = _TYPES.get(str(data.get("event")))
    if type_ is None:
        return None  # accepted, unsubscribed, stored, list_member_uploaded, unknown kinds
    bounce = None
    detail = None
    if type_ == BOUNCED:
        bounce = "hard" if data.get("severity") == "permanent" else "soft"
        status = data.get("delivery-status")
        if isinstance(status, dict):
            detail = short(status.get("description")) or short(status.get("message"))
        detail = detail or short(data.get("reason"))
    message = data.get("message")
    message_headers = message.get("headers") if isinstance(message, dict) else None
    esp_message_id = text(message_headers.get("message-id")) if isinstance(message_headers, dict) else None
    variables = data.get("user-variables")
    engagement: dict[str, Any] = {}
    if type_ in (OPENED, CLICKED):
        client = data.get("client-info")
        client = client if isinstance(client, dict) else {}
        engagement = client_of(client.get("user-agent"), data.get("ip"))
        bot = text(client.get("bot"))  # "Open and Click Bot Detection": apple, gmail, generic; empty: none
        if bot:
            who = _BOTS.get(bot.lower(), f"a bot ({bot})")
            engagement |= {"machine": "proxy" if type_ == OPENED and bot.lower() in ("apple", "gmail") else "scanner",
                           "detail": f"{who}, as Mailgun's bot detection says"}
    return EmailEvent(
        provider=PROVIDER,
        provider_event_id=text(data.get("id")) or canonical_id(data),
        type=type_,
        email=text(data.get("recipient")),
        message_id=text(variables.get(MESSAGE_ID_KEY)) if isinstance(variables, dict) else None,
        esp_message_id=esp_message_id.strip("<>") if esp_message_id else None,
        occurred_at=from_unix(data.get("timestamp")),
        bounce=bounce,
        url=text(data.get("url")) if type_ == CLICKED else None,
        **({"detail": detail} | engagement),
    )
