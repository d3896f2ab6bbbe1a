"""Amazon SES adapter: SES v2 SendEmail (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html).

``POST /v2/email/outbound-emails`` with a JSON body, signed with AWS Signature Version 4
(``journeys.providers.ses.sigv4``, so no AWS SDK is needed). Success is 200 ``{"MessageId"}``. Our
ledger id and the metadata travel as ``EmailTags``, which SES puts on its sending events
(with a configuration set that publishes them). Tag names and values may contain only ASCII
letters, digits, ``_`` and ``-`` (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_MessageTag.html):
anything else becomes ``_``.

Errors name their type in the ``x-amzn-ErrorType`` header (or ``__type`` in the JSON body) and
explain it in ``message``: MessageRejected, MailFromDomainNotVerifiedException,
AccountSuspendedException, SendingPausedException, BadRequestException and NotFoundException
are permanent; TooManyRequestsException, LimitExceededException (both sending-rate limits),
throttling, 429 and 5xx are transient; 403 (bad signature or credentials) is permanent.
"""

from __future__ import annotations

import json
import re
from email.utils import formataddr, parseaddr
from typing import Any

import httpx

from journeys.providers.ses import sigv4
from journeys.providers.base import OutgoingEmail, PermanentSendError, TransientSendError
from journeys.providers.http_errors import accepted_id, body_text, classify_status, json_object, retry_after, setting, transport_error

PATH = "/v2/email/outbound-emails"
PERMANENT = {
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "AccountSuspendedException",
    "SendingPausedException",
    "BadRequestException",
    "NotFoundException",
}
TRANSIENT = {
    "TooManyRequestsException",
    "LimitExceededException",
    "ThrottlingException",
    "Throttling",
    "InternalFailure",
    "ServiceUnavailable",
}
_NOT_TAG_CHARACTER = re.compile(r"[^A-Za-z0-9_-]")


class SesSender:
    name = "ses"

    def __init__(
        self,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        *,
        session_token: str | None = None,
        endpoint: str | None = None,
        configuration_set: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.region, self.configuration_set = region, configuration_set
        self._access_key_id, self._secret_access_key = access_key_id, secret_access_key
        self._session_token = session_token
        self.endpoint = endpoint or f"https://email.{region}.amazonaws.com"
        self._client = httpx.AsyncClient(base_url=self.endpoint, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: object) -> SesSender:
        """From journeys.storage.settings.Settings (or anything with its attributes), read with getattr."""
        return cls(
            setting(settings, "ses_region", "ses", required=True),
            setting(settings, "ses_access_key_id", "ses", required=True),
            setting(settings, "ses_secret_access_key", "ses", required=True),
            session_token=setting(settings, "ses_session_token", "ses"),
            endpoint=setting(settings, "ses_endpoint", "ses"),
            configuration_set=setting(settings, "ses_configuration_set", "ses"),
        )

    async def send(self, email: OutgoingEmail) -> str:
        body = json.dumps(self.payload(email)).encode()
        request = self._client.build_request("POST", PATH, content=body, headers={"Content-Type": "application/json"})
        # Sign what httpx will send: its Host header (with the port, if any) and content type.
        request.headers.update(
            sigv4.sign(
                request.method,
                str(request.url),
                {"host": request.headers["host"], "content-type": request.headers["content-type"]},
                body,
                region=self.region,
                service="ses",
                access_key_id=self._access_key_id,
                secret_access_key=self._secret_access_key,
                session_token=self._session_token,
            )
        )
        try:
            response = await self._client.send(request)
        except httpx.TransportError as exc:
            raise transport_error(exc, self.name) from exc
        if response.status_code == 200:
            return accepted_id(self.name, json_object(response).get("MessageId"))
        raise _classify(response)

    def payload(self, email: OutgoingEmail) -> dict[str, Any]:
        """The SendEmail JSON body (a "Simple" message: SES builds the MIME)."""
        body = {
            kind: {"Data": value, "Charset": "UTF-8"}
            for kind, value in (("Text", email.text), ("Html", email.html))
            if value  # SES needs one of them; an empty one is left out
        }
        simple: dict[str, Any] = {"Subject": {"Data": email.subject, "Charset": "UTF-8"}, "Body": body}
        if email.headers:
            simple["Headers"] = [{"Name": name, "Value": value} for name, value in email.headers.items()]
        # Sanitized names could collide: a dict keeps one value per name, as SES requires.
        tags = {tag_text(k): tag_text(v) for k, v in {**email.metadata, "journeys_message_id": email.message_id}.items()}
        payload: dict[str, Any] = {
            "FromEmailAddress": _address(email.from_),
            "Destination": {"ToAddresses": [_address(email.to)]},
            "Content": {"Simple": simple},
            "EmailTags": [{"Name": name, "Value": value} for name, value in tags.items() if name and value],
        }
        if self.configuration_set:
            payload["ConfigurationSetName"] = self.configuration_set
        return payload

    async def aclose(self) -> None:
        await self._client.aclose()


def _address(value: str) -> str:
    """SES wants a non-ASCII display name RFC 2047-encoded: 'Ann Ö <ann@example.com>' -> '=?utf-8?…?= <…>'."""
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if name and address else value


def tag_text(value: object) -> str:
    """A tag name or value SES accepts: ASCII letters, digits, _ and -; at most 256 characters."""
    return _NOT_TAG_CHARACTER.sub("_", str(value))[:256]


def _classify(response: httpx.Response) -> Exception:
    answer = json_object(response)
    # "MessageRejected:http://internal.amazon.com/coral/..." or "com.amazonaws.ses#MessageRejected".
    error_type = response.headers.get("x-amzn-ErrorType") or str(answer.get("__type") or "")
    error_type = error_type.split(":", 1)[0].rpartition("#")[2]
    message = str(answer.get("message") or answer.get("Message") or body_text(response))
    reason = f"{error_type}: {message}" if error_type else message
    if error_type in TRANSIENT:
        return TransientSendError(f"ses HTTP {response.status_code}: {reason}", retry_after=retry_after(response))
    if error_type in PERMANENT:
        return PermanentSendError(f"ses HTTP {response.status_code}: {reason}")
    return classify_status("ses", response, reason)
