"""What the HTTP-API adapters share: turning transport failures and HTTP answers into send errors.

Every HTTP ESP fails the same few ways, and the delivery activity only needs to know two
things: retry or not (``TransientSendError`` / ``PermanentSendError``), and whether the
request may have reached the ESP (``maybe_sent``: then a retry must not fail over to another
ESP, or the customer could get the email twice). So:

* could not connect (refused, DNS, connect timeout, no free pooled connection, proxy refused,
  bad URL scheme): the request never left, ``maybe_sent=False``;
* any later transport failure (read/write timeout, connection dropped mid-answer): the ESP may
  have queued the email, ``maybe_sent=True``;
* HTTP 502 and 504: transient and ``maybe_sent``: a gateway in front of the ESP says the
  ESP did not answer it in time, which says nothing about whether the ESP took the email;
* HTTP 429 and other 5xx: transient, honouring ``Retry-After`` (the ESP answered itself and
  did not take it); 408: transient (the ESP says it did not get the whole request);
  401/403: permanent, the credentials are wrong; other 4xx: permanent.

Adapters refine this per provider (an ESP's own error codes) and fall back to ``classify_status``.
"""

from __future__ import annotations

import logging

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from journeys.providers.base import MissingSetting, PermanentSendError, TransientSendError

# Error bodies are quoted in exception messages (and so in logs and Temporal history): cap them.
MAX_REASON_CHARS = 500
# Failures before any byte of the request went out.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError, httpx.UnsupportedProtocol)

log = logging.getLogger("journeys.esp")


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the ESP asked us to wait: ``Retry-After`` as delay-seconds or an HTTP-date."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def transport_error(exc: httpx.TransportError, provider: str) -> TransientSendError:
    """A failure below HTTP: transient; ``maybe_sent`` unless the request surely never left."""
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, _NEVER_SENT):
        return TransientSendError(f"{provider}: could not connect ({detail})", maybe_sent=False)
    return TransientSendError(
        f"{provider}: no answer after the request was sent, it may have been accepted ({detail})",
        maybe_sent=True,
    )


def classify_status(provider: str, response: httpx.Response, reason: str) -> Exception:
    """The default mapping of an unsuccessful HTTP answer to a send error."""
    status = response.status_code
    reason = reason or response.reason_phrase or "no reason given"
    if status in (502, 504):
        return TransientSendError(
            f"{provider} HTTP {status} from a gateway: {reason}; it may have been accepted",
            retry_after=retry_after(response),
            maybe_sent=True,
        )
    if status == 429 or status >= 500 or status == 408:
        return TransientSendError(f"{provider} HTTP {status}: {reason}", retry_after=retry_after(response))
    if status in (401, 403):
        return PermanentSendError(f"{provider}: authentication failed (HTTP {status}): {reason}")
    return PermanentSendError(f"{provider} HTTP {status}: {reason}")


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or {} when the body is empty, not JSON or not an object."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def body_text(response: httpx.Response) -> str:
    """The raw answer, shortened, for error messages when it isn't the documented JSON."""
    return response.text.strip()[:MAX_REASON_CHARS]


def setting(settings: object, name: str, esp: str, *, required: bool = False) -> Any:
    """``settings.<name>`` (None when unset or empty); ``MissingSetting`` if required and absent."""
    value = getattr(settings, name, None)
    unwrap = getattr(value, "get_secret_value", None)  # a pydantic SecretStr
    if callable(unwrap):
        value = unwrap()
    if value is None or value == "":
        if required:
            raise MissingSetting(f"JOURNEYS_{name.upper()} must be set when JOURNEYS_ESP includes {esp}")
        return None
    return value


def accepted_id(provider: str, value: object) -> str:
    """The provider's id for an accepted email; "" (logged) if it gave none. The email is
    out either way: it must be recorded as sent, never retried, whatever the id."""
    if value:
        return str(value)
    log.warning("%s accepted an email without giving its message id", provider)
    return ""
