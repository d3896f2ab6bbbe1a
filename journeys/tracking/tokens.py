"""Signed tracking tokens: which message, and for a click which of its links.

Format ``t1.<payload>.<signature>``, both parts base64url without padding, as the
unsubscribe tokens (journeys/consent/unsubscribe_tokens.py): the payload is compact JSON
``{"m": message_id, "k": "c"|"o", "i": link_index}`` (``i`` for clicks only), the
signature HMAC-SHA256 over the version and payload.

The key is derived from the unsubscribe secret (HMAC with a purpose string of its own),
so there is one secret to manage and yet a tracking token can never pass for an
unsubscribe token, nor the other way round. A token names a position, never a URL: the
redirect goes to the URL stored with the message at that position, so even a token
signed with a leaked secret cannot send anyone elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from journeys.contracts.signed_tokens import InvalidToken, TokenFormat

__all__ = ["InvalidToken", "TrackingClaims", "click_token", "open_token", "read_token", "tracking_key"]

VERSION = "t1"
# The derived key's purpose: changing it would invalidate every tracked link in sent mail.
_KEY_PURPOSE = b"journeys tracking key\x00"
# Signed with every token, as the unsubscribe tokens do: signatures of one kind only.
_FORMAT = TokenFormat(VERSION, b"journeys tracking\x00")
MAX_MESSAGE_ID = 64  # the messages table's id column

Kind = Literal["click", "open"]
_KIND_CODES: dict[Kind, str] = {"click": "c", "open": "o"}
_CODE_KINDS: dict[str, Kind] = {code: kind for kind, code in _KIND_CODES.items()}


@dataclass(frozen=True)
class TrackingClaims:
    message_id: str
    kind: Kind
    link_index: int | None  # clicks: the link's position in the email; opens: None


def tracking_key(unsubscribe_secret: str) -> bytes:
    """The tracking signing key, derived from the one secret an installation manages."""
    return hmac.new(unsubscribe_secret.encode(), _KEY_PURPOSE, hashlib.sha256).digest()


def click_token(key: bytes, message_id: str, link_index: int) -> str:
    return _make(key, {"m": message_id, "k": "c", "i": link_index})


def open_token(key: bytes, message_id: str) -> str:
    return _make(key, {"m": message_id, "k": "o"})


def read_token(key: bytes, token: str) -> TrackingClaims:
    """The claims of a token we signed; InvalidToken (saying what is wrong) otherwise."""
    data = _FORMAT.open(key, token)
    try:
        message_id, kind, index = data["m"], _CODE_KINDS[data["k"]], data.get("i")
    except (KeyError, TypeError, AttributeError):
        raise InvalidToken("malformed payload") from None
    if not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_MESSAGE_ID:
        raise InvalidToken("malformed payload")
    if kind == "click":
        # type(), not isinstance: JSON true is a Python int too.
        if type(index) is not int or index < 0:
            raise InvalidToken("malformed payload")
    elif index is not None:
        raise InvalidToken("malformed payload")
    return TrackingClaims(message_id=message_id, kind=kind, link_index=index)


def _make(key: bytes, claims: dict[str, object]) -> str:
    return _FORMAT.seal(key, claims)
