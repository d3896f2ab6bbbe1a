"""MailgunSender against a fake Mailgun Messages API on loopback."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from journeys.providers.base import OutgoingEmail, PermanentSendError, TransientSendError
from journeys.providers.mailgun.sender import MailgunSender
from tests.journeys.providers.conftest import ErrorFor, FakeProvider, Received, Reply, assert_send_error

API_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
DOMAIN = "mg.example.com"
SUCCESS = {"id": "<20240514091233.1.5AF1C7A1B2C3D4E5@mg.example.com>", "message": "Queued. Thank you."}


@pytest.fixture
async def sender(fake: FakeProvider) -> AsyncIterator[MailgunSender]:
    sender = MailgunSender(API_KEY, DOMAIN, base_url=fake.url)
    yield sender
    await sender.aclose()


EXPECTED_FORM = [
    ("from", "Shop <shop@example.com>"),
    ("to", "Ann Lee <ann@example.com>"),
    ("subject", "Welcome, Ann — here's 10% off"),
    ("text", "Hello Ann"),
    ("html", "<p>Hello Ann</p>"),
    ("h:List-Unsubscribe", "<https://shop.example.com/u/abc123>, <mailto:unsubscribe@shop.example.com?subject=abc123>"),
    ("h:List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ("v:journeys_message_id", "msg_01HZX3Q8K2"),
    ("v:customer_id", "c1"),
    ("v:template", "welcome"),
    ("v:journey", "welcome"),
    ("v:step", "send:welcome"),
    ("o:tag", "welcome"),
]


async def test_sends_the_documented_request_and_returns_the_id(
    fake: FakeProvider, sender: MailgunSender, email: OutgoingEmail
) -> None:
    def messages(request: Received) -> Reply:
        assert (request.method, request.path) == ("POST", f"/v3/{DOMAIN}/messages")
        credentials = base64.b64encode(f"api:{API_KEY}".encode()).decode()
        assert request.headers["authorization"] == f"Basic {credentials}"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert request.form() == EXPECTED_FORM
        return Reply(200, SUCCESS)

    fake.handler = messages
    assert await sender.send(email) == "<20240514091233.1.5AF1C7A1B2C3D4E5@mg.example.com>"
    assert len(fake.requests) == 1


async def test_from_settings_uses_the_configured_domain_and_base_url(fake: FakeProvider, email: OutgoingEmail) -> None:
    fake.answer(200, SUCCESS)
    settings = SimpleNamespace(mailgun_api_key="k", mailgun_domain="mail.shop.test", mailgun_base_url=fake.url)
    sender = MailgunSender.from_settings(settings)
    try:
        await sender.send(email)
    finally:
        await sender.aclose()
    assert fake.requests[0].path == "/v3/mail.shop.test/messages"


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "text", "retry_after"),
    [
        (
            400,
            {"message": "'to' parameter is not a valid address. please check documentation"},
            {},
            PermanentSendError,
            "HTTP 400: 'to' parameter is not a valid address. please check documentation",
            None,
        ),
        (401, "Forbidden", {}, PermanentSendError, "authentication failed (HTTP 401): Forbidden", None),
        (404, {"message": "Domain not found: mg.example.com"}, {}, PermanentSendError, "Domain not found", None),
        (
            429,
            {"message": "Too many requests"},
            {"Retry-After": "5"},
            TransientSendError,
            "HTTP 429: Too many requests",
            5.0,
        ),
        (500, {"message": "Internal Server Error"}, {}, TransientSendError, "HTTP 500: Internal Server Error", None),
        (503, "Service Unavailable", {"Retry-After": "60"}, TransientSendError, "Service Unavailable", 60.0),
    ],
)
async def test_error_answers_are_classified(
    error_for: ErrorFor, status: int, body: Any, headers: dict[str, str], kind: type[Exception], text: str,
    retry_after: float | None,
) -> None:
    assert_send_error(await error_for(Reply(status, body, headers)), kind, text=text, retry_after=retry_after)
