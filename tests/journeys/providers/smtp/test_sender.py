"""SMTP failures: what proves the message never left, and what does not (for failover)."""

from __future__ import annotations

import asyncio

import pytest
from aiosmtpd.controller import Controller

from journeys.providers.base import OutgoingEmail, TransientSendError
from journeys.providers.smtp.sender import SmtpSender
from tests.conftest import free_port

MESSAGE = OutgoingEmail(message_id="m1", to="ann@example.com", from_="shop@example.com", subject="Hi", html="<p>Hi</p>", text="Hi")


class TakesDataNeverAnswers:
    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        await asyncio.sleep(30)  # the message is in the server's hands; no 250 comes back
        return "250 OK"


async def test_no_answer_after_the_message_was_handed_over_is_maybe_sent() -> None:
    port = free_port()
    controller = Controller(TakesDataNeverAnswers(), hostname="127.0.0.1", port=port)
    controller.start()
    sender = SmtpSender("127.0.0.1", port, timeout=0.5)
    try:
        with pytest.raises(TransientSendError) as raised:
            await sender.send(MESSAGE)
    finally:
        await sender.aclose()
        controller.stop()
    assert raised.value.maybe_sent is True


async def test_no_server_at_all_is_not_sent() -> None:
    sender = SmtpSender("127.0.0.1", free_port(), timeout=0.5)
    with pytest.raises(TransientSendError) as raised:
        await sender.send(MESSAGE)
    assert raised.value.maybe_sent is False
