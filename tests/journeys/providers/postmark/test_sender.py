"""PostmarkSender against a fake Postmark Email API on loopback."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from journeys.providers.base import OutgoingEmail, PermanentSendError, TransientSendError
from journeys.providers.postmark.sender import PostmarkSender
from tests.journeys.providers.conftest import ErrorFor, FakeProvider, Received, Reply, assert_send_error

TOKEN = "server-token-0000"
SUCCESS = {
    "To": "Ann Lee <ann@example.com>",
    "SubmittedAt": "2024-05-14T09:12:33.3468282-04:00",
    "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817",
    "ErrorCode": 0,
    "Message": "OK",
}


@pytest.fixture
async def sender(fake: FakeProvider) -> AsyncIterator[PostmarkSender]:
    sender = PostmarkSender(TOKEN, base_url=fake.url)
    yield sender
    await sender.aclose()


def expected_body(stream: str, **more_metadata: str) -> dict[str, Any]:
    return {
        "From": "Shop <shop@example.com>",
        "To": "Ann Lee <ann@example.com>",
        "Subject": "Welcome, Ann — here's 10% off",
        "HtmlBody": "<p>Hello Ann</p>",
        "TextBody": "Hello Ann",
        "Headers": [
            {
                "Name": "List-Unsubscribe",
                "Value": "<https://shop.example.com/u/abc123>, <mailto:unsubscribe@shop.example.com?subject=abc123>",
            },
            {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
        ],
        "Metadata": {
            "customer_id": "c1",
            "template": "welcome",
            "journey": "welcome",
            "step": "send:welcome",
            **more_metadata,
            "journeys_message_id": "msg_01HZX3Q8K2",
        },
        "Tag": "welcome",
        "MessageStream": stream,
    }


def email_api(expected: dict[str, Any]) -> Any:
    def handle(request: Received) -> Reply:
        assert (request.method, request.path) == ("POST", "/email")
        assert request.headers["x-postmark-server-token"] == TOKEN
        assert request.headers["accept"] == "application/json"
        assert request.headers["content-type"] == "application/json"
        assert request.json() == expected
        return Reply(200, SUCCESS)

    return handle


async def test_sends_the_documented_request_and_returns_the_message_id(
    fake: FakeProvider, sender: PostmarkSender, email: OutgoingEmail
) -> None:
    fake.handler = email_api(expected_body("outbound"))
    assert await sender.send(email) == "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"
    assert len(fake.requests) == 1


async def test_marketing_email_goes_to_the_broadcast_stream(
    fake: FakeProvider, sender: PostmarkSender, email: OutgoingEmail
) -> None:
    fake.handler = email_api(expected_body("broadcast", category="marketing"))
    marketing = dataclasses.replace(email, metadata={**email.metadata, "category": "marketing"})
    assert await sender.send(marketing) == "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"


async def test_from_settings_uses_the_configured_streams(fake: FakeProvider, email: OutgoingEmail) -> None:
    fake.answer(200, SUCCESS)
    settings = SimpleNamespace(
        postmark_server_token="tok",
        postmark_base_url=fake.url,
        postmark_message_stream="journeys-transactional",
        postmark_broadcast_stream=None,
    )
    sender = PostmarkSender.from_settings(settings)
    try:
        await sender.send(email)
        await sender.send(dataclasses.replace(email, metadata={"category": "marketing"}))
    finally:
        await sender.aclose()
    assert fake.requests[0].headers["x-postmark-server-token"] == "tok"
    assert [r.json()["MessageStream"] for r in fake.requests] == ["journeys-transactional", "broadcast"]


INACTIVE = (
    "You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: ann@example.com. "
    "Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression."
)
BAD_TOKEN = (
    "The Server Token you provided in the X-Postmark-Server-Token request header was invalid. "
    "Please verify that you are using a valid token."
)


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "hard_bounce", "text", "retry_after"),
    [
        (422, {"ErrorCode": 406, "Message": INACTIVE}, {}, PermanentSendError, True, INACTIVE, None),
        (
            422,
            {"ErrorCode": 300, "Message": "Invalid 'To' address: 'ann@'."},
            {},
            PermanentSendError,
            False,
            "Invalid 'To' address: 'ann@'. (ErrorCode 300)",
            None,
        ),
        (422, {"ErrorCode": 10, "Message": BAD_TOKEN}, {}, PermanentSendError, False, f"{BAD_TOKEN} (ErrorCode 10)", None),
        (
            422,
            {"ErrorCode": 412, "Message": "Your account is pending approval: you can only send to your own domain."},
            {},
            PermanentSendError,
            False,
            "pending approval",
            None,
        ),
        (401, {"ErrorCode": 10, "Message": BAD_TOKEN}, {}, PermanentSendError, False, "authentication failed", None),
        (429, {"ErrorCode": 429, "Message": "Rate limit exceeded."}, {"Retry-After": "30"}, TransientSendError, False,
         "Rate limit exceeded.", 30.0),
        (500, {"ErrorCode": 0, "Message": "Internal Server Error"}, {}, TransientSendError, False,
         "HTTP 500: Internal Server Error", None),
        (503, "Service Unavailable", {"Retry-After": "120"}, TransientSendError, False, "HTTP 503: Service Unavailable",
         120.0),
    ],
)
async def test_error_answers_are_classified(
    error_for: ErrorFor, status: int, body: Any, headers: dict[str, str], kind: type[Exception], hard_bounce: bool,
    text: str, retry_after: float | None,
) -> None:
    error = await error_for(Reply(status, body, headers))
    assert_send_error(error, kind, text=text, retry_after=retry_after, hard_bounce=hard_bounce)
