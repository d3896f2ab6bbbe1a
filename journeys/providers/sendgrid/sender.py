"""SendGrid adapter: the v3 Mail Send API (https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send).

``POST /v3/mail/send`` with a Bearer API key and a JSON body; SendGrid answers 202 with an
empty body and the message id in the ``X-Message-Id`` header. Our ledger id travels as the
``journeys_message_id`` custom arg, so SendGrid's event webhook can be matched back to it.

Errors come as ``{"errors": [{"message", "field", "help"}]}``: 400 (a malformed request,
including an invalid address in ``personalizations.0.to``: a bad request, not a bounce) and
413 (payload too large) are permanent, 401/403 (bad key, unverified sender) permanent,
429 and 5xx transient with ``Retry-After`` when given.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

import httpx

from journeys.providers.base import OutgoingEmail
from journeys.providers.http_errors import accepted_id, body_text, classify_status, json_object, setting, transport_error

DEFAULT_BASE_URL = "https://api.sendgrid.com"


class SendGridSender:
    name = "sendgrid"

    def __init__(self, api_key: str, *, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    @classmethod
    def from_settings(cls, settings: object) -> SendGridSender:
        """From journeys.storage.settings.Settings (or anything with its attributes), read with getattr."""
        return cls(
            setting(settings, "sendgrid_api_key", "sendgrid", required=True),
            base_url=setting(settings, "sendgrid_base_url", "sendgrid") or DEFAULT_BASE_URL,
        )

    async def send(self, email: OutgoingEmail) -> str:
        try:
            response = await self._client.post("/v3/mail/send", json=payload(email))
        except httpx.TransportError as exc:
            raise transport_error(exc, self.name) from exc
        if response.status_code == 202:
            return accepted_id(self.name, response.headers.get("X-Message-Id"))
        raise classify_status(self.name, response, _reason(response))

    async def aclose(self) -> None:
        await self._client.aclose()


def payload(email: OutgoingEmail) -> dict[str, Any]:
    """The Mail Send JSON body for one email to one recipient."""
    custom_args = {key: str(value) for key, value in email.metadata.items()}
    custom_args["journeys_message_id"] = email.message_id
    body: dict[str, Any] = {
        "personalizations": [{"to": [_address(email.to)]}],
        "from": _address(email.from_),
        "subject": email.subject,
        # SendGrid requires text/plain before text/html, and refuses empty values.
        "content": [
            {"type": kind, "value": value}
            for kind, value in (("text/plain", email.text), ("text/html", email.html))
            if value
        ],
        "custom_args": custom_args,
    }
    if email.headers:
        body["headers"] = dict(email.headers)
    if email.metadata.get("template"):
        body["categories"] = [email.metadata["template"]]
    return body


def _address(value: str) -> dict[str, str]:
    name, address = parseaddr(value)
    return {"email": address or value, "name": name} if name else {"email": address or value}


def _reason(response: httpx.Response) -> str:
    errors = json_object(response).get("errors")
    if isinstance(errors, list) and errors:
        parts = []
        for error in errors:
            if isinstance(error, dict):
                field = error.get("field")
                message = str(error.get("message", ""))
                parts.append(f"{message} ({field})" if field else message)
        return "; ".join(parts)
    return body_text(response)
