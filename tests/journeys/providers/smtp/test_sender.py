"""SMTP failures: what proves the message never left, and what does not (for failover);
international addresses; a message that cannot be built is refused before any connection."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from temporalio.testing import ActivityEnvironment

from activities.deliver import DeliveryActivities
from journeys.contracts.activity_io import DeliverInput
from journeys.contracts.customers import CustomerIn
from journeys.customers.profiles import upsert_customer
from journeys.providers.base import OutgoingEmail, PermanentSendError, TransientSendError
from journeys.providers.smtp.sender import SmtpSender
from journeys.storage.database import Database
from journeys.storage.settings import PROJECT_ROOT, Settings
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


class Keeps:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.envelopes.append(envelope)
        return "250 OK"


async def send_to(to: str, smtputf8: bool) -> tuple[Keeps, BaseException | None]:
    kept, port = Keeps(), free_port()
    controller = Controller(kept, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    sender = SmtpSender("127.0.0.1", port, timeout=5)
    try:
        await sender.send(replace(MESSAGE, to=to))
    except BaseException as exc:
        return kept, exc
    finally:
        await sender.aclose()
        controller.stop()
    return kept, None


async def test_a_domain_outside_ascii_goes_as_punycode_to_any_server() -> None:
    kept, failed = await send_to("ann@bücher.example", smtputf8=False)
    assert failed is None and [e.rcpt_tos for e in kept.envelopes] == [["ann@xn--bcher-kva.example"]]
    assert b"\r\nTo: ann@xn--bcher-kva.example\r\n" in kept.envelopes[0].original_content  # type: ignore[operator]


async def test_a_mailbox_name_outside_ascii_needs_smtputf8_and_without_it_fails_for_good() -> None:
    kept, failed = await send_to("jörg@bücher.example", smtputf8=True)
    assert failed is None and [e.rcpt_tos for e in kept.envelopes] == [["jörg@xn--bcher-kva.example"]]
    assert "SMTPUTF8" in kept.envelopes[0].mail_options
    assert "\r\nTo: jörg@xn--bcher-kva.example\r\n".encode() in kept.envelopes[0].original_content  # type: ignore[operator]

    kept, failed = await send_to("jörg@example.com", smtputf8=False)
    assert kept.envelopes == []
    assert isinstance(failed, PermanentSendError) and not failed.hard_bounce, failed
    assert str(failed).startswith("jörg@example.com has a mailbox name outside ASCII, which needs SMTPUTF8, and the SMTP server "
                                  "does not offer it"), "a retry would meet the same server: never retried"


async def test_a_message_that_cannot_be_built_fails_for_good_before_any_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    sender = SmtpSender("127.0.0.1", free_port(), timeout=0.5)  # nothing listens: connecting would be a TransientSendError
    for to in ("not an address", "ann@bü..example"):
        with pytest.raises(PermanentSendError, match=r"^To: "):
            await sender.send(replace(MESSAGE, to=to))

    def bug(*args: object) -> None:  # what the email package raised for an IDN From before
        raise UnicodeEncodeError("ascii", "bücher", 1, 2, "ordinal not in range(128)")

    monkeypatch.setattr("journeys.providers.smtp.sender.build", bug)
    with pytest.raises(PermanentSendError, match=r"^the message could not be built: UnicodeEncodeError: "):
        await sender.send(MESSAGE)


async def test_delivery_from_a_domain_outside_ascii_is_sent_and_one_that_cannot_be_built_is_failed_not_unknown(
    db: Database,
) -> None:
    kept, port = Keeps(), free_port()
    controller = Controller(kept, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        async with db.session() as session:
            await upsert_customer(session, db, "ann", CustomerIn(email="ann@bücher.example"))
        settings = Settings(templates_dir=PROJECT_ROOT / "templates", unsubscribe_secret="s", from_email="Bücher <news@bücher.example>")
        delivery = DeliveryActivities(db, SmtpSender("127.0.0.1", port, timeout=5), settings)
        step = DeliverInput(idempotency_key="journey:w:ann/e1/send:welcome", customer_id="ann", template="welcome",
                            journey="w", step="send:welcome", context={})
        sent = await ActivityEnvironment().run(delivery.deliver, step)
        assert sent.status == "sent", sent.reason
        assert [(e.mail_from, e.rcpt_tos) for e in kept.envelopes] == [("news@xn--bcher-kva.example", ["ann@xn--bcher-kva.example"])]

        delivery.from_email = "Bücher <news@bü..example>"  # what Settings now refuses at start
        again = step.model_copy(update={"idempotency_key": "journey:w:ann/e2/send:welcome"})
        failed = await ActivityEnvironment().run(delivery.deliver, again)
        assert (failed.status, failed.reason) == ("failed", "refused by smtp: From: 'bü..example' is not a domain name (Empty Label)")
        retried = await ActivityEnvironment().run(delivery.deliver, again)  # were it retried: the ledger's answer, still failed
        assert retried.status == "failed" and len(kept.envelopes) == 1
    finally:
        controller.stop()
