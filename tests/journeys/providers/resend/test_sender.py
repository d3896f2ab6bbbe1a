"""ResendSender against a fake Resend Send Email API on loopback."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from journeys.providers.base import OutgoingEmail, PermanentSendError, TransientSendError
from journeys.providers.resend.sender import ResendSender
from tests.journeys.providers.conftest import EMAIL_TAGS, ErrorFor, FakeProvider, Received, Reply, assert_send_error

API_KEY = "re_123456789_abcdefghijklmnop"
SUCCESS = {"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}


@pytest.fixture
async def sender(fake: FakeProvider) -> AsyncIterator[ResendSender]:
    sender = ResendSender(API_KEY, base_url=fake.url)
    yield sender
    await sender.aclose()


EXPECTED_BODY = {
    "from": "Shop <shop@example.com>",
    "to": ["Ann Lee <ann@example.com>"],
    "subject": "Welcome, Ann — here's 10% off",
    "html": "<p>Hello Ann</p>",
    "text": "Hello Ann",
    "headers": {
        "List-Unsubscribe": "<https://shop.example.com/u/abc123>, <mailto:unsubscribe@shop.example.com?subject=abc123>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    },
    "tags": [{"name": name, "value": value} for name, value in EMAIL_TAGS],
}


def emails_api(request: Received) -> Reply:
    assert (request.method, request.path) == ("POST", "/emails")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "msg_01HZX3Q8K2"
    assert request.json() == EXPECTED_BODY
    return Reply(200, SUCCESS)


async def test_sends_the_documented_request_with_the_message_id_as_idempotency_key(
    fake: FakeProvider, sender: ResendSender, email: OutgoingEmail
) -> None:
    fake.handler = emails_api
    assert await sender.send(email) == "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"
    assert len(fake.requests) == 1


async def test_a_retried_send_carries_the_same_idempotency_key(
    fake: FakeProvider, sender: ResendSender, email: OutgoingEmail
) -> None:
    fake.answer(200, SUCCESS)
    await sender.send(email)
    await sender.send(email)
    await sender.send(dataclasses.replace(email, message_id="msg_other"))
    assert [r.headers["idempotency-key"] for r in fake.requests] == ["msg_01HZX3Q8K2", "msg_01HZX3Q8K2", "msg_other"]


async def test_from_settings_uses_the_configured_key_and_base_url(fake: FakeProvider, email: OutgoingEmail) -> None:
    fake.answer(200, SUCCESS)
    sender = ResendSender.from_settings(SimpleNamespace(resend_api_key="re_k", resend_base_url=fake.url))
    try:
        await sender.send(email)
    finally:
        await sender.aclose()
    assert fake.requests[0].headers["authorization"] == "Bearer re_k"


def resend_error(status: int, name: str, message: str) -> dict[str, Any]:
    return {"statusCode": status, "name": name, "message": message}


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "text", "retry_after", "maybe_sent"),
    [
        (422, resend_error(422, "validation_error", "Invalid `to` field. The email address needs to follow the "
                           "`email@example.com` or `Name <email@example.com>` format."),
         {}, PermanentSendError, "HTTP 422: validation_error: Invalid `to` field.", None, False),
        (400, resend_error(400, "validation_error", "The `text` field must be a `string`."),
         {}, PermanentSendError, "HTTP 400: validation_error: The `text` field", None, False),
        (401, resend_error(401, "missing_api_key", "Missing API key in the authorization header."),
         {}, PermanentSendError, "authentication failed (HTTP 401): missing_api_key", None, False),
        (403, resend_error(403, "invalid_api_key", "API key is invalid"),
         {}, PermanentSendError, "authentication failed (HTTP 403): invalid_api_key: API key is invalid", None, False),
        (409, resend_error(409, "invalid_idempotent_request", "Same idempotency key used with a different request "
                           "payload. Change your idempotency key or payload."),
         {}, TransientSendError, "invalid_idempotent_request: Same idempotency key", None, True),
        (409, resend_error(409, "concurrent_idempotent_requests", "Same idempotency key used while original request "
                           "is still in progress. Try the request again later."),
         {}, TransientSendError, "concurrent_idempotent_requests", None, True),
        (429, resend_error(429, "rate_limit_exceeded", "Too many requests. You can only make 2 requests per second."),
         {"Retry-After": "1"}, TransientSendError, "rate_limit_exceeded: Too many requests.", 1.0, False),
        (500, resend_error(500, "internal_server_error", "An unexpected error occurred, please try again later."),
         {}, TransientSendError, "HTTP 500: internal_server_error", None, False),
        (502, "Bad Gateway", {}, TransientSendError, "HTTP 502 from a gateway: Bad Gateway", None, True),
    ],
)
async def test_error_answers_are_classified(
    error_for: ErrorFor, status: int, body: Any, headers: dict[str, str], kind: type[Exception], text: str,
    retry_after: float | None, maybe_sent: bool,
) -> None:
    error = await error_for(Reply(status, body, headers))
    assert_send_error(error, kind, text=text, retry_after=retry_after, maybe_sent=maybe_sent)
