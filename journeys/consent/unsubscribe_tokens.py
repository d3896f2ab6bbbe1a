"""Signed unsubscribe tokens: who (customer) and what (topic), unforgeable and unalterable.

Format ``u1.<payload>.<signature>``, both parts base64url without padding: the payload is
compact JSON ``{"c": customer_id, "t": topic}``, the signature HMAC-SHA256 over the
version and payload with ``JOURNEYS_UNSUBSCRIBE_SECRET``. Links in old mail keep working
as long as the secret does (RFC 8058 expects that), so tokens carry no expiry; the
version prefix lets a later format be told apart from this one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

VERSION = "u1"
# Keeps these signatures apart from anything else the same secret might ever sign.
_PURPOSE = b"journeys unsubscribe\x00"


class InvalidToken(Exception):
    """A token we did not issue, or one that was altered."""


@dataclass(frozen=True)
class UnsubscribeClaims:
    customer_id: str
    topic: str


def make_token(secret: str, customer_id: str, topic: str) -> str:
    payload = _b64(json.dumps({"c": customer_id, "t": topic}, separators=(",", ":")).encode())
    return f"{VERSION}.{payload}.{_b64(_sign(secret, payload))}"


def read_token(secret: str, token: str) -> UnsubscribeClaims:
    """The claims of a token we signed; InvalidToken (with what is wrong) otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token")
    version, payload, signature = parts
    if version != VERSION:
        raise InvalidToken(f"unknown token format {version[:10]!r}")
    # Compared as text, not as decoded bytes: base64 decoding ignores the spare bits of
    # the last character, which would let four spellings of one signature through.
    # Checked before the payload is even parsed: nothing unsigned is looked at.
    if not hmac.compare_digest(signature.encode(), _b64(_sign(secret, payload)).encode()):
        raise InvalidToken("bad signature")
    try:
        data = json.loads(_unb64(payload))
        claims = UnsubscribeClaims(customer_id=data["c"], topic=data["t"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidToken("malformed payload") from None
    if not isinstance(claims.customer_id, str) or not isinstance(claims.topic, str):
        raise InvalidToken("malformed payload")
    return claims


def _sign(secret: str, payload: str) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE + VERSION.encode() + b"." + payload.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
