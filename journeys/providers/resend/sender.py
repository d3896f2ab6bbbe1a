"""Resend adapter: the Send Email API (https://resend.com/docs/api-reference/emails/send-email).

``POST /emails`` with a Bearer API key and a JSON body; success is 200 ``{"id"}``. Our ledger
id goes in the ``Idempotency-Key`` header (https://resend.com/docs/dashboard/emails/idempotency-keys):
Resend deduplicates the same send retried within 24 hours, so a retry after a timeout cannot
send twice. It also travels as the ``journeys_message_id`` tag with the metadata; tag names
and values may contain only ASCII letters, numbers, ``_`` and ``-``: anything else becomes ``_``.

Errors are ``{"statusCode", "name", "message"}`` (https://resend.com/docs/api-reference/errors):
400 and 422 (validation_error and friends) permanent; 401/403 (missing or invalid key,
unverified domain) permanent; 409 (the idempotency key is in flight concurrently, or was used
with another payload) transient and maybe sent; 429 (rate_limit_exceeded, ``Retry-After``)
and 5xx transient.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from journeys.providers.base import OutgoingEmail, TransientSendError
from journeys.providers.http_errors import accepted_id, body_text, classify_status, json_object, retry_after, setting, transport_error

DEFAULT_BASE_URL = "https://api.resend.com"
_NOT_TAG_CHARACTER = re.compile(r"[^A-Za-z0-9_-]")


class ResendSender:
    name = "resend"
    dedupe_window = 24 * 3600.0  # the Idempotency-Key: a repeat within 24 h is not sent again

    def __init__(self, api_key: str, *, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    @classmethod
    def from_settings(cls, settings: object) -> ResendSender:
        """From journeys.storage.settings.Settings (or anything with its attributes), read with getattr."""
        return cls(
            setting(settings, "resend_api_key", "resend", required=True),
            base_url=setting(settings, "resend_base_url", "resend") or DEFAULT_BASE_URL,
        )

    async def send(self, email: OutgoingEmail) -> str:
        try:
            response = await self._client.post(
                "/emails", json=payload(email), headers={"Idempotency-Key": email.message_id}
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, self.name) from exc
        answer = json_object(response)
        if response.status_code == 200:
            return accepted_id(self.name, answer.get("id"))
        reason = f"{answer.get('name')}: {answer.get('message')}" if answer.get("message") else body_text(response)
        if response.status_code == 409:
            raise TransientSendError(f"resend HTTP 409: {reason}", retry_after=retry_after(response), maybe_sent=True)
        raise classify_status(self.name, response, reason)

    async def aclose(self) -> None:
        await self._client.aclose()


def payload(email: OutgoingEmail) -> dict[str, Any]:
    """The Send Email JSON body."""
    tags = {tag_text(k): tag_text(v) for k, v in {**email.metadata, "journeys_message_id": email.message_id}.items()}
    body: dict[str, Any] = {"from": email.from_, "to": [email.to], "subject": email.subject}
    if email.html:
        body["html"] = email.html
    if email.text:
        body["text"] = email.text
    if email.headers:
        body["headers"] = dict(email.headers)
    body["tags"] = [{"name": name, "value": value} for name, value in tags.items() if name and value]
    return body


def tag_text(value: object) -> str:
    """A tag name or value Resend accepts: ASCII letters, numbers, _ and -; at most 256 characters."""
    return _NOT_TAG_CHARACTER.sub("_", str(value))[:256]
