"""The envelope of every token we sign into an email (unsubscribe links, tracked links).

``<version>.<payload>.<signature>``: the payload compact JSON, both parts base64url
without padding, the signature HMAC-SHA256 over a purpose string, the version and the
payload. The purpose keeps each kind's signatures apart even under one key; the version
lets a later format be told apart. What the claims mean is each kind's own
(journeys/consent/unsubscribe_tokens.py, journeys/tracking/tokens.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any


class InvalidToken(Exception):
    """A token we did not issue, or one that was altered."""


@dataclass(frozen=True)
class TokenFormat:
    version: str
    purpose: bytes  # signed with every token of this kind

    def seal(self, key: bytes, claims: dict[str, Any]) -> str:
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{self.version}.{payload}.{_b64(self._sign(key, payload))}"

    def open(self, key: bytes, token: str) -> Any:
        """The JSON a token we signed carries; InvalidToken (saying what is wrong) otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("malformed token")
        version, payload, signature = parts
        if version != self.version:
            raise InvalidToken(f"unknown token format {version[:10]!r}")
        # Compared as text, not as decoded bytes: base64 decoding ignores the spare bits of
        # the last character, which would let several spellings of one signature through.
        # Checked before the payload is even parsed: nothing unsigned is looked at.
        if not hmac.compare_digest(signature.encode(), _b64(self._sign(key, payload)).encode()):
            raise InvalidToken("bad signature")
        try:
            return json.loads(_unb64(payload))
        except (binascii.Error, ValueError):
            raise InvalidToken("malformed payload") from None

    def _sign(self, key: bytes, payload: str) -> bytes:
        return hmac.new(key, self.purpose + self.version.encode() + b"." + payload.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
