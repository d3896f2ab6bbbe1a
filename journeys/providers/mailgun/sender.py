"""Mailgun adapter: the Messages API (https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages).

``POST /v3/{domain}/messages`` with HTTP basic auth (user "api", password the API key) and a
form body: ``from``, ``to``, ``subject``, ``text``, ``html``, ``h:<Header>`` per custom header,
``v:<name>`` user variables (our ledger id as ``v:journeys_message_id``, plus the metadata;
Mailgun echoes them in its webhooks) and ``o:tag``. Success is 200
``{"id": "<…@domain>", "message": "Queued. Thank you."}``. EU domains use
``https://api.eu.mailgun.net`` as the base URL.

Errors: 400 ``{"message"}`` (bad parameters) permanent, 401 (bad key; a plain "Forbidden") and
other 4xx (404: unknown domain) permanent, 429 and 5xx transient with ``Retry-After``.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from journeys.providers.base import OutgoingEmail
from journeys.providers.http_errors import accepted_id, body_text, classify_status, json_object, setting, transport_error

DEFAULT_BASE_URL = "https://api.mailgun.net"


class MailgunSender:
    name = "mailgun"

    def __init__(self, api_key: str, domain: str, *, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0) -> None:
        self.domain = domain
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, auth=httpx.BasicAuth("api", api_key))

    @classmethod
    def from_settings(cls, settings: object) -> MailgunSender:
        """From journeys.storage.settings.Settings (or anything with its attributes), read with getattr."""
        return cls(
            setting(settings, "mailgun_api_key", "mailgun", required=True),
            setting(settings, "mailgun_domain", "mailgun", required=True),
            base_url=setting(settings, "mailgun_base_url", "mailgun") or DEFAULT_BASE_URL,
        )

    async def send(self, email: OutgoingEmail) -> str:
        try:
            response = await self._client.post(
                f"/v3/{self.domain}/messages",
                content=urlencode(form(email)),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, self.name) from exc
        answer = json_object(response)
        if response.status_code == 200:
            return accepted_id(self.name, answer.get("id"))
        raise classify_status(self.name, response, str(answer.get("message") or body_text(response)))

    async def aclose(self) -> None:
        await self._client.aclose()


def form(email: OutgoingEmail) -> list[tuple[str, str]]:
    """The form fields, in order.

    Encoded with ``urlencode`` rather than httpx's ``data=``, which takes only a mapping.
    """
    fields = [("from", email.from_), ("to", email.to), ("subject", email.subject)]
    # Mailgun needs text or html (or both); an empty one is left out.
    fields += [(kind, value) for kind, value in (("text", email.text), ("html", email.html)) if value]
    fields += [(f"h:{name}", value) for name, value in email.headers.items()]
    fields.append(("v:journeys_message_id", email.message_id))
    fields += [(f"v:{key}", str(value)) for key, value in email.metadata.items() if key != "journeys_message_id"]
    if email.metadata.get("template"):
        fields.append(("o:tag", email.metadata["template"]))
    return fields
