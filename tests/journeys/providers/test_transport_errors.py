"""Every HTTP adapter, when the ESP cannot be reached or does not answer in time.

A refused connection never reached the ESP: transient, not sent. A request taken and never
answered may have been sent: transient, maybe sent (so it is retried on the same ESP only).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from journeys.providers.base import EmailSender, OutgoingEmail, TransientSendError
from journeys.providers.mailgun.sender import MailgunSender
from journeys.providers.postmark.sender import PostmarkSender
from journeys.providers.resend.sender import ResendSender
from journeys.providers.sendgrid.sender import SendGridSender
from journeys.providers.ses.sender import SesSender
from tests.journeys.providers.conftest import FakeProvider

MakeSender = Callable[[str], EmailSender]

# One factory per provider: the sender pointed at a base URL, with a short timeout.
SENDERS: dict[str, MakeSender] = {
    "sendgrid": lambda url: SendGridSender("SG.test-key.abc", base_url=url, timeout=0.2),
    "postmark": lambda url: PostmarkSender("server-token-0000", base_url=url, timeout=0.2),
    "mailgun": lambda url: MailgunSender("key-test", "mg.example.com", base_url=url, timeout=0.2),
    "resend": lambda url: ResendSender("re_test", base_url=url, timeout=0.2),
    "ses": lambda url: SesSender("eu-west-1", "AKIAIOSFODNN7EXAMPLE", "secret", endpoint=url, timeout=0.2),
}

each_sender = pytest.mark.parametrize("make_sender", list(SENDERS.values()), ids=list(SENDERS))


async def transient_error(make_sender: MakeSender, url: str, email: OutgoingEmail) -> TransientSendError:
    """The TransientSendError a sender at ``url`` raises for ``email``."""
    sender = make_sender(url)
    try:
        with pytest.raises(TransientSendError) as raised:
            await sender.send(email)
    finally:
        await sender.aclose()
    return raised.value


@each_sender
async def test_connection_refused_is_transient_and_not_sent(
    make_sender: MakeSender, dead_url: str, email: OutgoingEmail
) -> None:
    error = await transient_error(make_sender, dead_url, email)
    assert error.maybe_sent is False


@each_sender
async def test_no_answer_in_time_is_transient_and_maybe_sent(
    make_sender: MakeSender, fake: FakeProvider, email: OutgoingEmail
) -> None:
    fake.hang()
    error = await transient_error(make_sender, fake.url, email)
    assert error.maybe_sent is True
    assert len(fake.requests) == 1


async def test_an_email_accepted_without_an_id_counts_as_sent(fake: FakeProvider) -> None:
    """Accepted is out: an answer that forgot the id must not fail the send (a retry would send it twice)."""
    fake.answer(202)  # no X-Message-Id header
    sender = SendGridSender("SG.key", base_url=fake.url)
    try:
        message = OutgoingEmail(message_id="m1", to="ann@example.com", from_="shop@example.com", subject="Hi", html="<p>Hi</p>", text="Hi")
        assert await sender.send(message) == ""
    finally:
        await sender.aclose()
