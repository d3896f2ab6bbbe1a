"""No email is ever sent twice: a send that may have reached the ESP is never repeated
(unless the ESP drops repeats itself), retries are bounded, and a late attempt cannot
overwrite what a later one decided. Real SMTP servers and loopback HTTP ESPs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update
from temporalio.testing import ActivityEnvironment

from activities.deliver import DeliveryActivities
from activities.ledger import Ledger
from journeys.providers.base import TransientSendError
from journeys.providers.sendgrid.sender import SendGridSender
from journeys.providers.smtp.sender import SmtpSender
from journeys.storage.database import Database
from journeys.storage.settings import PROJECT_ROOT, Settings
from journeys.storage.tables import MessageRow, utcnow
from tests.activities.test_deliver import add_customer, messages, step
from tests.conftest import free_port
from tests.journeys.providers.conftest import FakeProvider


def delivery(db: Database, sender: object, **settings: Any) -> DeliveryActivities:
    return DeliveryActivities(
        db, sender, Settings(templates_dir=PROJECT_ROOT / "templates", unsubscribe_secret="s", **settings)  # type: ignore[arg-type]
    )


class SlowToConfirm:
    """An SMTP relay that stores every message, then answers the end of DATA late."""

    def __init__(self, delay: float) -> None:
        self.delay, self.stored = delay, []  # type: ignore[var-annotated]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.stored.append(message_from_bytes(envelope.content))
        await asyncio.sleep(self.delay)
        return "250 OK: queued"


@pytest.fixture
def slow_relay() -> Iterator[tuple[SlowToConfirm, int]]:
    handler, port = SlowToConfirm(delay=1.5), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def esp() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    provider.start()
    yield provider
    provider.close()


async def test_a_relay_that_confirms_after_the_timeout_gets_the_message_once(db: Database, slow_relay: Any) -> None:
    relay, port = slow_relay
    await add_customer(db, email="ann@example.com")
    activities = delivery(db, SmtpSender("127.0.0.1", port, timeout=0.5))
    first = await ActivityEnvironment().run(activities.deliver, step())
    assert first.status == "unknown" and "may have been sent" in (first.reason or "")
    # Temporal would not retry a returned result; a replay or a second call changes nothing.
    again = await ActivityEnvironment().run(activities.deliver, step())
    assert again.status == "unknown"
    await asyncio.sleep(0)  # (the relay stored the copy before its late answer)
    assert len(relay.stored) == 1, "one copy at the relay"
    [row] = await messages(db)
    assert [h["status"] for h in row.history] == ["sending", "unknown"]
    assert row.esp == "smtp"


@pytest.mark.parametrize("status", [502, 504])
async def test_a_gateway_error_from_an_esp_without_idempotency_is_not_sent_again(
    db: Database, esp: FakeProvider, status: int
) -> None:
    esp.answer(status, "Bad Gateway")
    await add_customer(db, email="ann@example.com")
    activities = delivery(db, SendGridSender("SG.key", base_url=esp.url))
    result = await ActivityEnvironment().run(activities.deliver, step())
    assert result.status == "unknown"
    assert len(esp.requests) == 1
    [row] = await messages(db)
    assert row.status == "unknown" and f"HTTP {status}" in (row.reason or "")


async def test_a_timeout_after_the_request_was_sent_is_unknown_for_sendgrid(db: Database, esp: FakeProvider) -> None:
    esp.hang()
    await add_customer(db, email="ann@example.com")
    result = await ActivityEnvironment().run(delivery(db, SendGridSender("SG.key", base_url=esp.url, timeout=0.3)).deliver, step())
    assert result.status == "unknown" and len(esp.requests) == 1


async def test_retries_stop_after_the_attempts_allowed_and_the_message_fails(db: Database, esp: FakeProvider) -> None:
    esp.answer(503, {"errors": [{"message": "try later"}]})
    await add_customer(db, email="ann@example.com")
    activities = delivery(db, SendGridSender("SG.key", base_url=esp.url), send_max_attempts=3)
    for _ in range(2):
        with pytest.raises(TransientSendError):
            await ActivityEnvironment().run(activities.deliver, step())
    result = await ActivityEnvironment().run(activities.deliver, step())
    assert result.status == "failed" and "gave up after 3 attempts" in (result.reason or "")
    assert "try later" in (result.reason or "")
    assert len(esp.requests) == 3
    [row] = await messages(db)
    assert [h["status"] for h in row.history] == ["sending", "retrying"] * 2 + ["sending", "failed"]
    # Nothing more is sent, however often the activity is called again.
    assert (await ActivityEnvironment().run(activities.deliver, step())).status == "failed"
    assert len(esp.requests) == 3


async def test_retries_stop_once_the_time_allowed_has_passed(db: Database, esp: FakeProvider) -> None:
    esp.answer(503, {"errors": [{"message": "down"}]})
    await add_customer(db, email="ann@example.com")
    activities = delivery(db, SendGridSender("SG.key", base_url=esp.url), send_max_retry_seconds=600)
    with pytest.raises(TransientSendError):
        await ActivityEnvironment().run(activities.deliver, step())
    async with db.session() as session:  # the first attempt was 11 minutes ago
        await session.exec(update(MessageRow).values(claimed_at=utcnow() - timedelta(minutes=11)))  # type: ignore[call-overload]
        await session.commit()
    result = await ActivityEnvironment().run(activities.deliver, step())
    assert result.status == "failed" and "no retry after 11 min" in (result.reason or "")
    assert len(esp.requests) == 1, "the late attempt calls no ESP"


async def test_a_late_attempt_cannot_overwrite_what_a_later_one_decided(db: Database) -> None:
    """Attempt 1 claims and hangs; Temporal gives up on it and attempt 2 marks the message
    unknown. When attempt 1 finally hears "sent", the status stays unknown and the
    history says what it reported."""
    from journeys.templating.catalog import TemplateCatalog

    await add_customer(db, email="ann@example.com")
    info = TemplateCatalog(PROJECT_ROOT / "templates").get("welcome")
    async with db.session() as first_session, db.session() as second_session:
        first = Ledger(db, first_session, step(), utcnow())
        row = await first.claim("ann@example.com", "Welcome", info)
        assert row is not None and row.status == "sending"
        second = Ledger(db, second_session, step(), utcnow())
        decided = await second.decide(None, "unknown", "an earlier attempt stopped mid-send; not sent again")
        assert decided.status == "unknown"
        assert await first.finish(row, "sent", esp="smtp", esp_message_id="<late@x>") is False
    [stored] = await messages(db)
    assert stored.status == "unknown" and stored.esp_message_id is None
    assert [h["status"] for h in stored.history] == ["sending", "unknown", "late"]
    assert "reported sent" in stored.history[-1]["reason"]


async def test_a_webhook_arriving_while_the_esp_answers_keeps_its_history_entry(db: Database, esp: FakeProvider) -> None:
    """The ledger appends to the history in the database, so an ESP event recorded while
    the send is in flight is not overwritten by the send's own entry."""
    import threading

    from journeys.intake.email_feedback import record_email_events
    from journeys.providers.email_events import EmailEvent
    from tests.conftest import wait_until
    from tests.journeys.providers.conftest import Reply

    await add_customer(db, email="ann@example.com")
    recorded = threading.Event()

    def answer_once_the_webhook_is_in(request: Any) -> Reply:
        recorded.wait(timeout=10)
        return Reply(202, "", {"X-Message-Id": "sg-1"})

    esp.handler = answer_once_the_webhook_is_in
    activities = delivery(db, SendGridSender("SG.key", base_url=esp.url))
    sending = asyncio.create_task(ActivityEnvironment().run(activities.deliver, step()))
    [row] = await wait_until(lambda: messages(db), what="the message claimed")
    event = EmailEvent("sendgrid", "ev-1", "email.delivered", "ann@example.com", row.id, None, utcnow())
    await record_email_events(db, [event], lambda _: False)
    recorded.set()
    assert (await sending).status == "sent"
    [row] = await messages(db)
    assert [h["status"] for h in row.history] == ["sending", "email.delivered", "sent"]


async def test_a_database_blip_after_the_esp_took_the_email_still_records_it_sent(
    db: Database, esp: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recording "sent" fails once (the database restarting): it is recorded on a second
    try, instead of the retry finding "sending" and calling it unknown."""
    from sqlalchemy.exc import OperationalError

    import activities.sending

    esp.answer(202, "", {"X-Message-Id": "sg-1"})
    await add_customer(db, email="ann@example.com")
    monkeypatch.setattr(activities.sending, "RECORD_RETRY_PAUSES", (0.01, 0.01))
    finish, failures = Ledger.finish, []

    async def finish_after_a_blip(self: Ledger, row: MessageRow, status: str, reason: str | None = None, **values: Any) -> bool:
        if status == "sent" and not failures:
            failures.append(status)
            raise OperationalError("UPDATE messages", {}, Exception("server closed the connection unexpectedly"))
        return await finish(self, row, status, reason, **values)

    monkeypatch.setattr(Ledger, "finish", finish_after_a_blip)
    result = await ActivityEnvironment().run(delivery(db, SendGridSender("SG.key", base_url=esp.url)).deliver, step())
    assert result.status == "sent" and failures == ["sent"]
    [row] = await messages(db)
    assert (row.status, row.esp_message_id) == ("sent", "sg-1") and len(esp.requests) == 1
