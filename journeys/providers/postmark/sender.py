"""Postmark adapter: the Email API (https://postmarkapp.com/developer/api/email-api).

``POST /email`` with the ``X-Postmark-Server-Token`` header and a JSON body; success is 200
``{"MessageID", "ErrorCode": 0, "Message": "OK"}``. Marketing emails (metadata category
"marketing") go to the broadcast message stream, everything else to the transactional one:
Postmark requires the two kinds to be kept apart. Our ledger id travels in ``Metadata``.

Errors (https://postmarkapp.com/developer/api/overview#error-codes) are 422
``{"ErrorCode", "Message"}``: 406 "inactive recipient" (the address hard-bounced or complained
before) is a permanent hard bounce; 300 (invalid email request), 10 (bad token) and every other
422 are permanent; 401 permanent; 429, 500 and 503 transient.
"""

from __future__ import annotations

from typing import Any

import httpx

from journeys.providers.base import OutgoingEmail, PermanentSendError
from journeys.providers.http_errors import accepted_id, body_text, classify_status, json_object, setting, transport_error

DEFAULT_BASE_URL = "https://api.postmarkapp.com"
INACTIVE_RECIPIENT = 406


class PostmarkSender:
    name = "postmark"

    def __init__(
        self,
        server_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        message_stream: str = "outbound",
        broadcast_stream: str = "broadcast",
        timeout: float = 10.0,
    ) -> None:
        self.message_stream, self.broadcast_stream = message_stream, broadcast_stream
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            headers={"X-Postmark-Server-Token": server_token, "Accept": "application/json"},
        )

    @classmethod
    def from_settings(cls, settings: object) -> PostmarkSender:
        """From journeys.storage.settings.Settings (or anything with its attributes), read with getattr."""
        return cls(
            setting(settings, "postmark_server_token", "postmark", required=True),
            base_url=setting(settings, "postmark_base_url", "postmark") or DEFAULT_BASE_URL,
            message_stream=setting(settings, "postmark_message_stream", "postmark") or "outbound",
            broadcast_stream=setting(settings, "postmark_broadcast_stream", "postmark") or "broadcast",
        )

    async def send(self, email: OutgoingEmail) -> str:
        try:
            response = await self._client.post("/email", json=self.payload(email))
        except httpx.TransportError as exc:
            raise transport_error(exc, self.name) from exc
        answer = json_object(response)
        if response.status_code == 200 and not answer.get("ErrorCode"):
            return accepted_id(self.name, answer.get("MessageID"))
        raise _classify(response, answer)

    def payload(self, email: OutgoingEmail) -> dict[str, Any]:
        """The Email API JSON body."""
        metadata = {key: str(value) for key, value in email.metadata.items()}
        metadata["journeys_message_id"] = email.message_id
        body: dict[str, Any] = {
            "From": email.from_,
            "To": email.to,
            "Subject": email.subject,
            "Metadata": metadata,
            "MessageStream": (
                self.broadcast_stream if email.metadata.get("category") == "marketing" else self.message_stream
            ),
        }
        # Postmark needs at least one of the two bodies; an empty one is left out.
        if email.html:
            body["HtmlBody"] = email.html
        if email.text:
            body["TextBody"] = email.text
        if email.headers:
            body["Headers"] = [{"Name": name, "Value": value} for name, value in email.headers.items()]
        if email.metadata.get("template"):
            body["Tag"] = email.metadata["template"]
        return body

    async def aclose(self) -> None:
        await self._client.aclose()


def _classify(response: httpx.Response, answer: dict[str, Any]) -> Exception:
    code = answer.get("ErrorCode")
    reason = f"{answer.get('Message', '')} (ErrorCode {code})" if code is not None else body_text(response)
    if code == INACTIVE_RECIPIENT:
        return PermanentSendError(f"postmark: inactive recipient: {reason}", hard_bounce=True)
    if response.status_code in (200, 422):
        # 300 invalid email request, 10 bad token, and the rest of the API errors.
        return PermanentSendError(f"postmark HTTP {response.status_code}: {reason}")
    return classify_status("postmark", response, reason)
