"""Signed unsubscribe tokens: who (customer) and what (topic), unforgeable and unalterable.

Format ``u1.<payload>.<signature>``, both parts base64url without padding: the payload is
compact JSON ``{"c": customer_id, "t": topic}`` (and ``"m"``, the message the link came
in, so an unsubscribe is counted against the email that led to it), the signature HMAC-SHA256 over the
version and payload with ``JOURNEYS_UNSUBSCRIBE_SECRET``. Links in old mail keep working
as long as the secret does (RFC 8058 expects that), so tokens carry no expiry; the
version prefix lets a later format be told apart from this one.
"""

from __future__ import annotations

from dataclasses import dataclass

from journeys.contracts.signed_tokens import InvalidToken, TokenFormat

__all__ = ["InvalidToken", "UnsubscribeClaims", "make_token", "read_token"]

VERSION = "u1"
# The purpose keeps these signatures apart from anything else the same secret might sign.
_FORMAT = TokenFormat(VERSION, b"journeys unsubscribe\x00")


@dataclass(frozen=True)
class UnsubscribeClaims:
    customer_id: str
    topic: str
    message_id: str | None = None  # tokens from before messages were named carry none


def make_token(secret: str, customer_id: str, topic: str, message_id: str | None = None) -> str:
    claims = {"c": customer_id, "t": topic, **({"m": message_id} if message_id else {})}
    return _FORMAT.seal(secret.encode(), claims)


def read_token(secret: str, token: str) -> UnsubscribeClaims:
    """The claims of a token we signed; InvalidToken (with what is wrong) otherwise."""
    data = _FORMAT.open(secret.encode(), token)
    try:
        claims = UnsubscribeClaims(customer_id=data["c"], topic=data["t"], message_id=data.get("m"))
    except (KeyError, TypeError, AttributeError):
        raise InvalidToken("malformed payload") from None
    if not isinstance(claims.customer_id, str) or not isinstance(claims.topic, str):
        raise InvalidToken("malformed payload")
    if claims.message_id is not None and not isinstance(claims.message_id, str):
        raise InvalidToken("malformed payload")
    return claims
