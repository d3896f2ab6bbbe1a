"""SesSender against a fake SES v2 endpoint on loopback that checks the SigV4 signature.

The fake recomputes the signature from the request it received, with its own small SigV4
verifier (not ``journeys.providers.ses.sigv4``), and refuses a wrong one as SES does (403
SignatureDoesNotMatch): a successful send proves the signature is right.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from journeys.providers.base import OutgoingEmail, PermanentSendError, TransientSendError
from journeys.providers.ses.sender import SesSender
from tests.journeys.providers.conftest import EMAIL_TAGS, ErrorFor, FakeProvider, Received, Reply, assert_send_error

REGION = "eu-west-1"
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SUCCESS = {"MessageId": "0102018f7a2b3c4d-5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9-000000"}
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)
SIGNATURE_DOES_NOT_MATCH = Reply(
    403,
    {
        "message": "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    },
    {"x-amzn-ErrorType": "SignatureDoesNotMatch:http://internal.amazon.com/coral/com.amazon.coral.service/"},
)


def signature_problem(request: Received, secret: str = SECRET) -> str | None:
    """Why SES would refuse the request's signature, or None: it checks out."""
    match = AUTHORIZATION.fullmatch(request.headers.get("authorization", ""))
    if not match:
        return f"malformed Authorization: {request.headers.get('authorization')!r}"
    amz_date = request.headers.get("x-amz-date", "")
    signed = match["signed"].split(";")
    if (match["key"], match["region"], match["service"]) != (ACCESS_KEY_ID, REGION, "ses"):
        return f"wrong credential scope: {match.group(0)}"
    if not amz_date.startswith(match["date"]) or not {"host", "x-amz-date"} <= set(signed) or signed != sorted(signed):
        return "x-amz-date, host and a sorted SignedHeaders list are required"
    skew = abs((datetime.now(UTC) - datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)).total_seconds())
    if skew > 300:
        return "request time too skewed"
    canonical = "\n".join(
        [
            request.method,
            request.path,
            request.query,
            "".join(f"{name}:{' '.join(request.headers[name].split())}\n" for name in signed),
            match["signed"],
            hashlib.sha256(request.body).hexdigest(),
        ]
    )
    scope = f"{match['date']}/{REGION}/ses/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = f"AWS4{secret}".encode()
    for part in (match["date"], REGION, "ses", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(expected, match["signature"]) else "signature mismatch"


def send_email_api(check: Callable[[Received], None]) -> Callable[[Received], Reply]:
    def handle(request: Received) -> Reply:
        if signature_problem(request):
            return SIGNATURE_DOES_NOT_MATCH
        check(request)
        return Reply(200, SUCCESS)

    return handle


@pytest.fixture
async def sender(fake: FakeProvider) -> AsyncIterator[SesSender]:
    sender = SesSender(REGION, ACCESS_KEY_ID, SECRET, endpoint=fake.url, configuration_set="journeys-events")
    yield sender
    await sender.aclose()


EXPECTED_BODY = {
    "FromEmailAddress": "Shop <shop@example.com>",
    "Destination": {"ToAddresses": ["Ann Lee <ann@example.com>"]},
    "Content": {
        "Simple": {
            "Subject": {"Data": "Welcome, Ann — here's 10% off", "Charset": "UTF-8"},
            "Body": {
                "Text": {"Data": "Hello Ann", "Charset": "UTF-8"},
                "Html": {"Data": "<p>Hello Ann</p>", "Charset": "UTF-8"},
            },
            "Headers": [
                {
                    "Name": "List-Unsubscribe",
                    "Value": "<https://shop.example.com/u/abc123>, <mailto:unsubscribe@shop.example.com?subject=abc123>",
                },
                {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
            ],
        }
    },
    "EmailTags": [{"Name": name, "Value": value} for name, value in EMAIL_TAGS],
    "ConfigurationSetName": "journeys-events",
}


async def test_sends_a_correctly_signed_documented_request(
    fake: FakeProvider, sender: SesSender, email: OutgoingEmail
) -> None:
    def check(request: Received) -> None:
        assert (request.method, request.path, request.query) == ("POST", "/v2/email/outbound-emails", "")
        assert request.headers["content-type"] == "application/json"
        assert "x-amz-security-token" not in request.headers
        assert request.json() == EXPECTED_BODY

    fake.handler = send_email_api(check)
    assert await sender.send(email) == SUCCESS["MessageId"]
    assert len(fake.requests) == 1


async def test_temporary_credentials_send_and_sign_the_session_token(fake: FakeProvider, email: OutgoingEmail) -> None:
    def check(request: Received) -> None:
        assert request.headers["x-amz-security-token"] == "FwoGZXIvYXdzEXAMPLETOKEN"
        assert "x-amz-security-token" in AUTHORIZATION.fullmatch(request.headers["authorization"])["signed"]  # type: ignore[index]
        assert "ConfigurationSetName" not in request.json()

    fake.handler = send_email_api(check)
    sender = SesSender(REGION, ACCESS_KEY_ID, SECRET, session_token="FwoGZXIvYXdzEXAMPLETOKEN", endpoint=fake.url)
    try:
        assert await sender.send(email) == SUCCESS["MessageId"]
    finally:
        await sender.aclose()


async def test_a_wrong_secret_is_refused_by_the_fake_and_is_permanent(fake: FakeProvider, email: OutgoingEmail) -> None:
    fake.handler = send_email_api(lambda request: None)
    sender = SesSender(REGION, ACCESS_KEY_ID, "not-the-secret", endpoint=fake.url)
    try:
        with pytest.raises(PermanentSendError, match="authentication failed .*SignatureDoesNotMatch: The request signature"):
            await sender.send(email)
    finally:
        await sender.aclose()


async def test_from_settings_and_the_default_endpoint(fake: FakeProvider, email: OutgoingEmail) -> None:
    settings = SimpleNamespace(
        ses_region=REGION,
        ses_access_key_id=ACCESS_KEY_ID,
        ses_secret_access_key=SECRET,
        ses_session_token=None,
        ses_endpoint=None,
        ses_configuration_set=None,
    )
    default = SesSender.from_settings(settings)
    assert default.endpoint == "https://email.eu-west-1.amazonaws.com"
    await default.aclose()

    fake.handler = send_email_api(lambda request: None)
    sender = SesSender.from_settings(SimpleNamespace(**{**vars(settings), "ses_endpoint": fake.url}))
    try:
        assert await sender.send(email) == SUCCESS["MessageId"]
    finally:
        await sender.aclose()


def ses_error(
    status: int, error_type: str, message: str, *, in_header: bool = True, headers: dict[str, str] | None = None
) -> Reply:
    headers = dict(headers or {})
    if in_header:
        headers["x-amzn-ErrorType"] = f"{error_type}:http://internal.amazon.com/coral/com.amazon.coral.service/"
        return Reply(status, {"message": message}, headers)
    return Reply(status, {"__type": f"com.amazonaws.sesv2#{error_type}", "message": message}, headers)


@pytest.mark.parametrize(
    ("reply", "kind", "text", "retry_after"),
    [
        (
            ses_error(400, "MessageRejected", "Email address is not verified. The following identities failed the "
                      "check in region EU-WEST-1: ann@example.com"),
            PermanentSendError,
            "MessageRejected: Email address is not verified.",
            None,
        ),
        (
            ses_error(400, "MailFromDomainNotVerifiedException", "MAIL FROM domain bounce.example.com is not verified"),
            PermanentSendError,
            "MailFromDomainNotVerifiedException: MAIL FROM domain",
            None,
        ),
        (
            ses_error(400, "AccountSuspendedException", "Your account has been shut down because of a high bounce rate."),
            PermanentSendError,
            "AccountSuspendedException: Your account has been shut down",
            None,
        ),
        (
            ses_error(400, "SendingPausedException", "Sending is paused for this configuration set."),
            PermanentSendError,
            "SendingPausedException: Sending is paused",
            None,
        ),
        (
            ses_error(400, "BadRequestException", "Missing final '@domain'", in_header=False),
            PermanentSendError,
            "BadRequestException: Missing final '@domain'",
            None,
        ),
        (
            ses_error(404, "NotFoundException", "Configuration set <journeys-events> does not exist."),
            PermanentSendError,
            "NotFoundException: Configuration set <journeys-events> does not exist.",
            None,
        ),
        (
            ses_error(429, "TooManyRequestsException", "Maximum sending rate exceeded.", headers={"Retry-After": "1"}),
            TransientSendError,
            "TooManyRequestsException: Maximum sending rate exceeded.",
            1.0,
        ),
        (
            ses_error(400, "LimitExceededException", "Daily message quota exceeded.", in_header=False),
            TransientSendError,
            "LimitExceededException: Daily message quota exceeded.",
            None,
        ),
        (
            ses_error(500, "InternalFailure", "The request processing has failed because of an unknown error."),
            TransientSendError,
            "InternalFailure: The request processing has failed",
            None,
        ),
        (Reply(503, "Service Unavailable", {"Retry-After": "3"}), TransientSendError, "HTTP 503: Service Unavailable", 3.0),
        (
            ses_error(403, "UnrecognizedClientException", "The security token included in the request is invalid."),
            PermanentSendError,
            "authentication failed (HTTP 403): UnrecognizedClientException: The security token",
            None,
        ),
    ],
)
async def test_error_answers_are_classified(
    error_for: ErrorFor, reply: Reply, kind: type[Exception], text: str, retry_after: float | None
) -> None:
    assert_send_error(await error_for(reply), kind, text=text, retry_after=retry_after)


async def test_non_ascii_display_names_are_rfc2047_encoded(email: OutgoingEmail) -> None:
    sender = SesSender(REGION, ACCESS_KEY_ID, SECRET)
    payload: dict[str, Any] = sender.payload(dataclasses.replace(email, to="Zoë Örn <zoe@example.com>"))
    await sender.aclose()
    assert payload["Destination"]["ToAddresses"] == ["=?utf-8?b?Wm/DqyDDlnJu?= <zoe@example.com>"]
