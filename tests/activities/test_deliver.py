"""The delivery activity against a real SMTP server: at most once, every outcome logged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.contracts import DeliverInput
from activities.deliver import DeliveryActivities
from activities.esp.base import TransientSendError
from activities.esp.smtp import SmtpSender
from core.customer_store import upsert_customer
from core.customers import CustomerIn
from core.database import Database
from core.mail_catcher import MailCatcher, read_mailbox
from core.settings import PROJECT_ROOT, Settings
from core.tables import MessageRow, utcnow
from tests.conftest import free_port


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[MailCatcher]:
    with MailCatcher(tmp_path / "mail", port=free_port()) as running:
        yield running


def delivery(db: Database, port: int, **settings: object) -> DeliveryActivities:
    return DeliveryActivities(
        db,
        SmtpSender("127.0.0.1", port, timeout=5),
        Settings(
            templates_dir=PROJECT_ROOT / "templates",
            from_email="Shop <shop@example.com>",
            unsubscribe_secret="test-secret",
            **settings,  # type: ignore[arg-type]
        ),
    )


def step(key: str = "journey:welcome:c1/e1/send:welcome", template: str = "welcome", customer: str = "c1") -> DeliverInput:
    return DeliverInput(idempotency_key=key, customer_id=customer, template=template, journey="welcome", step="send:welcome")


async def add_customer(db: Database, customer_id: str = "c1", **fields: object) -> None:
    async with db.session() as session:
        await upsert_customer(session, customer_id, CustomerIn(**fields))  # type: ignore[arg-type]


async def messages(db: Database) -> list[MessageRow]:
    async with db.session() as session:
        return list((await session.exec(select(MessageRow))).all())


async def test_sends_a_rendered_email_and_records_it(db: Database, catcher: MailCatcher) -> None:
    await add_customer(db, email="ann@example.com", attributes={"first_name": "Ann"})
    result = await ActivityEnvironment().run(delivery(db, catcher.port).deliver, step())
    assert result.status == "sent" and result.customer and result.customer.email == "ann@example.com"
    [mail] = read_mailbox(catcher.directory)
    assert (mail.to, mail.subject) == ("ann@example.com", "Welcome to Journeys, Ann!")
    assert "Hi Ann," in mail.text and "Hi Ann," in mail.html
    [row] = await messages(db)
    assert (row.status, row.template, row.to_email, row.esp) == ("sent", "welcome", "ann@example.com", "smtp")
    assert row.esp_message_id == mail.message["Message-ID"].strip() and row.sent_at is not None


async def test_a_retried_step_is_not_sent_again(db: Database, catcher: MailCatcher) -> None:
    await add_customer(db, email="ann@example.com")
    activities = delivery(db, catcher.port)
    first = await ActivityEnvironment().run(activities.deliver, step())
    second = await ActivityEnvironment().run(activities.deliver, step())
    assert second.message_id == first.message_id and second.status == "sent"
    assert len(read_mailbox(catcher.directory)) == 1
    assert len(await messages(db)) == 1


async def test_an_smtp_outage_is_retried_and_then_sent(db: Database, catcher: MailCatcher) -> None:
    await add_customer(db, email="ann@example.com")
    with pytest.raises(TransientSendError):
        await ActivityEnvironment().run(delivery(db, free_port()).deliver, step())
    [row] = await messages(db)
    assert row.status == "retrying" and row.reason and "127.0.0.1" in row.reason
    result = await ActivityEnvironment().run(delivery(db, catcher.port).deliver, step())
    assert result.status == "sent" and len(read_mailbox(catcher.directory)) == 1
    [row] = await messages(db)
    assert row.attempts == 2


async def test_an_attempt_that_died_mid_send_is_never_repeated(db: Database, catcher: MailCatcher) -> None:
    await add_customer(db, email="ann@example.com")
    now = utcnow()
    async with db.session() as session:
        session.add(
            MessageRow(id="m1", idempotency_key=step().idempotency_key, customer_id="c1", template="welcome",
                       status="sending", attempts=1, created_at=now, updated_at=now)
        )
        await session.commit()
    result = await ActivityEnvironment().run(delivery(db, catcher.port).deliver, step())
    assert result.status == "unknown" and read_mailbox(catcher.directory) == []


async def test_a_customer_without_email_is_skipped_with_a_reason(db: Database, catcher: MailCatcher) -> None:
    await add_customer(db, "c2")
    unknown = await ActivityEnvironment().run(delivery(db, catcher.port).deliver, step(key="k1", customer="ghost"))
    no_email = await ActivityEnvironment().run(delivery(db, catcher.port).deliver, step(key="k2", customer="c2"))
    assert (unknown.status, unknown.reason) == ("skipped", "unknown customer")
    assert (no_email.status, no_email.reason) == ("skipped", "customer has no email address")
    assert read_mailbox(catcher.directory) == []


async def test_an_unknown_template_fails_the_step_for_good(db: Database, catcher: MailCatcher) -> None:
    await add_customer(db, email="ann@example.com")
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(delivery(db, catcher.port).deliver, step(template="no_such_template"))
    assert raised.value.non_retryable and raised.value.type == "TemplateError"
    assert "unknown template 'no_such_template'" in str(raised.value)
    [row] = await messages(db)
    assert row.status == "failed"


class _Refuse:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        return "550 5.1.1 mailbox unavailable"


async def test_a_refused_address_is_logged_as_failed_not_retried(db: Database) -> None:
    await add_customer(db, email="gone@example.com")
    port = free_port()
    controller = Controller(_Refuse(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        result = await ActivityEnvironment().run(delivery(db, port).deliver, step())
    finally:
        controller.stop()
    assert result.status == "failed" and "refused" in (result.reason or "")


async def test_a_hard_bounce_suppresses_the_address_for_every_later_send(db: Database, catcher: MailCatcher) -> None:
    await add_customer(db, email="gone@example.com")
    port = free_port()
    controller = Controller(_Refuse(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        bounced = await ActivityEnvironment().run(delivery(db, port).deliver, step(key="k1"))
    finally:
        controller.stop()
    assert bounced.reason and bounced.reason.endswith("(address suppressed: hard bounce)")
    # Even a transactional email, to a server that would take it, is not sent any more.
    later = await ActivityEnvironment().run(delivery(db, catcher.port).deliver, step(key="k2"))
    assert later.status == "suppressed" and (later.reason or "").startswith("address suppressed for all mail: hard bounce (smtp,")
    assert read_mailbox(catcher.directory) == []


async def test_marketing_mail_over_smtp_has_one_click_headers_and_a_footer(db: Database, catcher: MailCatcher) -> None:
    from core.unsubscribe_tokens import read_token

    await add_customer(db, email="ann@example.com")
    activities = delivery(
        db,
        catcher.port,
        public_url="https://journeys.example.com",
        unsubscribe_mailto="unsubscribe@example.com",
        postal_address="Shop Inc., 1 Main St, Springfield",
    )
    result = await ActivityEnvironment().run(activities.deliver, step(template="getting_started"))
    assert result.status == "sent"
    [mail] = read_mailbox(catcher.directory)
    https, mailto = [part.strip().strip("<>") for part in str(mail.message["List-Unsubscribe"]).split(",")]
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert https.startswith("https://journeys.example.com/u/") and mailto.startswith("mailto:unsubscribe@example.com?subject=")
    claims = read_token("test-secret", https.rsplit("/", 1)[1])
    assert (claims.customer_id, claims.topic) == ("c1", "product")
    assert f'href="{https}"' in mail.html and "Shop Inc., 1 Main St, Springfield" in mail.html
    assert https in mail.text and "Shop Inc., 1 Main St, Springfield" in mail.text
    [row] = await messages(db)
    assert (row.category, row.topic, row.claimed_at is not None) == ("marketing", "product", True)


async def test_two_sends_at_the_same_moment_cannot_both_take_the_last_slot(db: Database, catcher: MailCatcher) -> None:
    """Cap of one, two journeys sending to one customer at once: one is sent, one is capped."""
    import asyncio

    rounds = 12
    activities = delivery(db, catcher.port, frequency_cap_24h=1)
    for i in range(rounds):
        await add_customer(db, f"r{i}", email=f"r{i}@example.com")
    outcomes = []
    for i in range(rounds):
        both = await asyncio.gather(
            ActivityEnvironment().run(activities.deliver, step(key=f"a/{i}", template="getting_started", customer=f"r{i}")),
            ActivityEnvironment().run(activities.deliver, step(key=f"b/{i}", template="getting_started", customer=f"r{i}")),
        )
        outcomes.append(sorted(r.status for r in both))
    assert outcomes == [["capped", "sent"]] * rounds
    assert len(read_mailbox(catcher.directory)) == rounds
