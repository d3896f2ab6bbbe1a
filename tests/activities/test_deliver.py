"""The delivery activity against a real SMTP server: at most once, every outcome logged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from journeys.contracts.activity_io import DeliverInput
from activities.deliver import DeliveryActivities
from journeys.providers.base import TransientSendError
from journeys.providers.smtp.sender import SmtpSender
from journeys.customers.profiles import upsert_customer
from journeys.contracts.customers import CustomerIn
from journeys.storage.database import Database
from journeys.devstack.mail_catcher import MailCatcher, read_mailbox
from journeys.storage.settings import PROJECT_ROOT, Settings
from journeys.storage.tables import MessageRow, utcnow
from tests.conftest import free_port, wait_until


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
        await upsert_customer(session, db, customer_id, CustomerIn(**fields))  # type: ignore[arg-type]


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
    from journeys.consent.unsubscribe_tokens import read_token

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


# ----- through HTTP ESPs: which ESP sent it, Retry-After, no second ESP after a maybe-send -----


def http_delivery(db: Database, sender: object) -> DeliveryActivities:
    return DeliveryActivities(
        db, sender, Settings(templates_dir=PROJECT_ROOT / "templates", unsubscribe_secret="test-secret")  # type: ignore[arg-type]
    )


@pytest.fixture
def providers() -> Iterator[tuple[object, object]]:
    from tests.journeys.providers.conftest import FakeProvider

    primary, backup = FakeProvider(), FakeProvider()
    primary.start(), backup.start()
    yield primary, backup
    primary.close(), backup.close()


def resend_chain(primary: object, backup: object, timeout: float = 5.0) -> object:
    from journeys.providers.failover import FailoverSender
    from journeys.providers.resend.sender import ResendSender

    first = ResendSender("re_1", base_url=primary.url, timeout=timeout)  # type: ignore[attr-defined]
    second = ResendSender("re_2", base_url=backup.url, timeout=timeout)  # type: ignore[attr-defined]
    second.name = "resend-backup"
    return FailoverSender([first, second], failure_threshold=5)


async def test_the_ledger_records_the_esp_that_sent_after_a_failover(db: Database, providers) -> None:  # type: ignore[no-untyped-def]
    primary, backup = providers
    primary.answer(503, {"statusCode": 503, "name": "internal_server_error", "message": "down"})
    backup.answer(200, {"id": "re-123"})
    await add_customer(db, email="ann@example.com")
    result = await ActivityEnvironment().run(http_delivery(db, resend_chain(primary, backup)).deliver, step())
    assert result.status == "sent" and result.esp_message_id == "re-123"
    [row] = await messages(db)
    assert (row.esp, row.esp_message_id) == ("resend-backup", "re-123")
    assert backup.requests[0].headers["idempotency-key"] == row.id


async def test_retry_after_from_the_esp_sets_temporals_next_retry(db: Database, providers) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    primary, _ = providers
    primary.answer(429, {"statusCode": 429, "name": "rate_limit_exceeded", "message": "Too many requests"}, {"Retry-After": "7"})
    from journeys.providers.resend.sender import ResendSender

    await add_customer(db, email="ann@example.com")
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(http_delivery(db, ResendSender("re_1", base_url=primary.url)).deliver, step())
    assert raised.value.next_retry_delay == timedelta(seconds=7) and not raised.value.non_retryable
    [row] = await messages(db)
    assert row.status == "retrying" and "Too many requests" in (row.reason or "")


async def test_a_send_that_may_have_reached_resend_is_retried_there_only_with_the_same_idempotency_key(db: Database, providers) -> None:  # type: ignore[no-untyped-def]
    """Resend drops a repeat of the same Idempotency-Key, so only there is a maybe-sent send
    asked again (every other ESP: unknown, never again; test_deliver_at_most_once.py)."""
    primary, backup = providers
    primary.hang()
    backup.answer(200, {"id": "re-backup"})
    await add_customer(db, email="ann@example.com")
    activities = http_delivery(db, resend_chain(primary, backup, timeout=0.5))
    with pytest.raises(TransientSendError):
        await ActivityEnvironment().run(activities.deliver, step())
    [row] = await messages(db)
    assert (row.status, row.esp) == ("retrying", "resend")
    with pytest.raises(TransientSendError):  # the retry: still the primary, never the backup
        await ActivityEnvironment().run(activities.deliver, step())
    assert backup.requests == [] and len(primary.requests) == 2
    assert len({r.headers["idempotency-key"] for r in primary.requests}) == 1, "the same key: Resend sends it once"

    # A later failure that proves nothing left (a 503) does not lift the pin: it may be out.
    primary._hang = False
    primary.answer(503, {"statusCode": 503, "name": "internal_server_error", "message": "down"})
    with pytest.raises(TransientSendError):
        await ActivityEnvironment().run(activities.deliver, step())
    [row] = await messages(db)
    assert (row.status, row.esp) == ("retrying", "resend")
    primary.answer(200, {"id": "re-primary"})
    result = await ActivityEnvironment().run(activities.deliver, step())
    assert (result.status, result.esp_message_id) == ("sent", "re-primary") and backup.requests == []


async def test_a_send_stopped_while_waiting_for_its_rate_slot_is_sent_later(db: Database, providers) -> None:  # type: ignore[no-untyped-def]
    """Cancelled (a worker shutting down) before it reached the ESP: retried, not 'unknown'."""
    import asyncio

    from journeys.providers.rate_limit import EspRateLimiter
    from journeys.providers.resend.sender import ResendSender

    primary, _ = providers
    primary.answer(200, {"id": "re-1"})
    await add_customer(db, email="ann@example.com")
    activities = DeliveryActivities(
        db,
        ResendSender("re_1", base_url=primary.url),
        Settings(templates_dir=PROJECT_ROOT / "templates", unsubscribe_secret="x", resend_rate_limit=2.0),
    )
    await EspRateLimiter(db, {"resend": 2.0}).wait_turn("resend")  # another send took the slot now: next in 0.5 s
    attempt = asyncio.create_task(ActivityEnvironment().run(activities.deliver, step()))

    async def waiting_for_its_slot() -> bool:
        return [r.status for r in await messages(db)] == ["sending"]

    await wait_until(waiting_for_its_slot, what="the send claimed and waiting")
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    [row] = await messages(db)
    assert row.status == "retrying" and primary.requests == []
    result = await ActivityEnvironment().run(activities.deliver, step())
    assert result.status == "sent"


# ----- SMTP with STARTTLS and AUTH ---------------------------------------------------------------


async def test_smtp_sends_over_starttls_with_auth(db: Database, tmp_path: Path) -> None:
    import ipaddress
    import ssl
    from datetime import datetime, timedelta, timezone

    from aiosmtpd.smtp import AuthResult, LoginPassword
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    client_tls = ssl.create_default_context(cafile=str(cert_file))  # verifies the server, as in production

    logins: list[str] = []

    def authenticate(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        def text(value: str | bytes) -> str:
            return value.decode() if isinstance(value, bytes) else value

        ok = isinstance(auth_data, LoginPassword) and (text(auth_data.login), text(auth_data.password)) == ("shop", "s3cret")
        if ok:
            logins.append(text(auth_data.login))
        return AuthResult(success=ok)

    received: list[bytes] = []

    class Keep:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            assert session.ssl is not None, "mail accepted over an unencrypted connection"
            received.append(envelope.content)
            return "250 OK"

    port = free_port()
    controller = Controller(
        Keep(), hostname="127.0.0.1", port=port, tls_context=server_tls, require_starttls=True,
        authenticator=authenticate, auth_required=True,
    )
    controller.start()
    try:
        await add_customer(db, email="ann@example.com")
        sender = SmtpSender("127.0.0.1", port, username="shop", password="s3cret", start_tls=True, tls_context=client_tls, timeout=5)
        activities = DeliveryActivities(db, sender, Settings(templates_dir=PROJECT_ROOT / "templates", unsubscribe_secret="x"))
        result = await ActivityEnvironment().run(activities.deliver, step())
        assert result.status == "sent" and logins == ["shop"] and len(received) == 1
        # (A refused login is not exercised here: aiosmtplib and aiosmtpd stall on it.)
    finally:
        controller.stop()
