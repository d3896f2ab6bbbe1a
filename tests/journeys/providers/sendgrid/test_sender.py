"""SendGridSender against a fake SendGrid v3 Mail Send endpoint on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from journeys.providers.base import OutgoingEmail, PermanentSendError, TransientSendError
from journeys.providers.sendgrid.sender import SendGridSender
from tests.journeys.providers.conftest import ErrorFor, FakeProvider, Received, Reply, assert_send_error

API_KEY = "SG.test-key.abc"


@pytest.fixture
async def sender(fake: FakeProvider) -> AsyncIterator[SendGridSender]:
    sender = SendGridSender(API_KEY, base_url=fake.url)
    yield sender
    await sender.aclose()


def expected_body(email: OutgoingEmail) -> dict[str, Any]:
    return {
        "personalizations": [{"to": [{"email": "ann@example.com", "name": "Ann Lee"}]}],
        "from": {"email": "shop@example.com", "name": "Shop"},
        "subject": "Welcome, Ann — here's 10% off",
        "content": [
            {"type": "text/plain", "value": "Hello Ann"},
            {"type": "text/html", "value": "<p>Hello Ann</p>"},
        ],
        "headers": {
            "List-Unsubscribe": "<https://shop.example.com/u/abc123>, <mailto:unsubscribe@shop.example.com?subject=abc123>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "custom_args": {
            "customer_id": "c1",
            "template": "welcome",
            "journey": "welcome",
            "step": "send:welcome",
            "journeys_message_id": "msg_01HZX3Q8K2",
        },
        "categories": ["welcome"],
    }


async def test_sends_the_documented_request_and_returns_x_message_id(
    fake: FakeProvider, sender: SendGridSender, email: OutgoingEmail
) -> None:
    def mail_send(request: Received) -> Reply:
        assert (request.method, request.path) == ("POST", "/v3/mail/send")
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        assert request.headers["content-type"] == "application/json"
        assert request.json() == expected_body(email)
        return Reply(202, None, {"X-Message-Id": "W8wzZbGxRaGvZ0pGRGOhdA"})

    fake.handler = mail_send
    assert await sender.send(email) == "W8wzZbGxRaGvZ0pGRGOhdA"
    assert len(fake.requests) == 1


async def test_from_settings_uses_the_configured_key_and_base_url(fake: FakeProvider, email: OutgoingEmail) -> None:
    fake.answer(202, None, {"X-Message-Id": "abc"})
    sender = SendGridSender.from_settings(SimpleNamespace(sendgrid_api_key="SG.k", sendgrid_base_url=fake.url))
    try:
        assert await sender.send(email) == "abc"
    finally:
        await sender.aclose()
    assert fake.requests[0].headers["authorization"] == "Bearer SG.k"


def errors(*items: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {"errors": list(items)}


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "text", "retry_after"),
    [
        (
            400,
            errors({
                "message": "Does not contain a valid address.",
                "field": "personalizations.0.to.0.email",
                "help": "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.personalizations.to",
            }),
            {},
            PermanentSendError,
            "Does not contain a valid address. (personalizations.0.to.0.email)",
            None,
        ),
        (
            401,
            errors({"field": None, "message": "The provided authorization grant is invalid, expired, or revoked"}),
            {},
            PermanentSendError,
            "authentication failed (HTTP 401): The provided authorization grant is invalid, expired, or revoked",
            None,
        ),
        (
            403,
            errors({
                "field": "from",
                "message": "The from address does not match a verified Sender Identity.",
            }),
            {},
            PermanentSendError,
            "The from address does not match a verified Sender Identity. (from)",
            None,
        ),
        (
            413,
            errors({"field": None, "message": "The JSON payload you have included in your request is too large."}),
            {},
            PermanentSendError,
            "HTTP 413: The JSON payload you have included in your request is too large.",
            None,
        ),
        (
            429,
            errors({"field": None, "message": "too many requests"}),
            {"Retry-After": "17"},
            TransientSendError,
            "HTTP 429: too many requests",
            17.0,
        ),
        (
            500,
            errors({"field": None, "message": "An internal server error occurred."}),
            {},
            TransientSendError,
            "HTTP 500: An internal server error occurred.",
            None,
        ),
        (
            503,
            "Service Unavailable",
            {"Retry-After": "2"},
            TransientSendError,
            "HTTP 503: Service Unavailable",
            2.0,
        ),
    ],
)
async def test_error_answers_are_classified(
    error_for: ErrorFor, status: int, body: Any, headers: dict[str, str], kind: type[Exception], text: str,
    retry_after: float | None,
) -> None:
    """Even an invalid recipient address is a bad request here, never a hard bounce."""
    assert_send_error(await error_for(Reply(status, body, headers)), kind, text=text, retry_after=retry_after)
