"""The development mail catcher: real SMTP in, one .eml file per message, read back by ``read_mailbox``."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from journeys.devstack.mail_catcher import MailCatcher, read_mailbox
from journeys.devstack.stack import port_in_use
from journeys.providers.base import OutgoingEmail
from journeys.providers.smtp.sender import SmtpSender
from tests.conftest import free_port


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[MailCatcher]:
    with MailCatcher(tmp_path / "mail", port=free_port()) as running:
        yield running


def message(subject: str, *, to: str = "ann@example.com", text: str = "Hi Ann,\n", html: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Shop <shop@example.com>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


async def send(catcher: MailCatcher, msg: EmailMessage) -> None:
    await aiosmtplib.send(msg, hostname=catcher.host, port=catcher.port, timeout=5)


def send_with_smtplib(catcher: MailCatcher, msg: EmailMessage) -> None:
    with smtplib.SMTP(catcher.host, catcher.port, timeout=5) as client:
        client.send_message(msg)


async def test_a_message_sent_over_smtp_is_read_back_with_subject_to_text_and_html(catcher: MailCatcher) -> None:
    before = datetime.now(timezone.utc)
    await send(catcher, message("Your order", text="Hi Ann,\nthanks!\n", html="<p>Hi Ann,</p><p>thanks!</p>"))
    # The server answers 250 only once the file is written: no waiting for it.
    [mail] = read_mailbox(catcher.directory)
    assert (mail.to, mail.from_, mail.subject) == ("ann@example.com", "Shop <shop@example.com>", "Your order")
    assert mail.text.splitlines() == ["Hi Ann,", "thanks!"]
    assert mail.html.strip() == "<p>Hi Ann,</p><p>thanks!</p>"
    assert mail.message.get_content_type() == "multipart/alternative"
    assert before - timedelta(seconds=1) <= mail.received_at <= datetime.now(timezone.utc) + timedelta(seconds=1)
    assert [p.name for p in catcher.directory.iterdir()] == [mail.name] and mail.name.endswith(".eml")


async def test_a_text_only_message_reads_with_an_empty_html_part(catcher: MailCatcher) -> None:
    await send(catcher, message("Plain", text="Just text.\n"))
    [mail] = read_mailbox(catcher.directory)
    assert mail.text.strip() == "Just text." and mail.html == ""


async def test_the_mailbox_lists_messages_oldest_first(catcher: MailCatcher) -> None:
    for subject in ("first", "second", "third", "fourth"):
        await send(catcher, message(subject))
    mails = read_mailbox(catcher.directory)
    assert [m.subject for m in mails] == ["first", "second", "third", "fourth"]
    assert [m.received_at for m in mails] == sorted(m.received_at for m in mails)


async def test_unicode_subjects_addresses_and_bodies_survive(catcher: MailCatcher) -> None:
    subject = "Grüße aus Köln — 你好 🎉"
    # Encoded as RFC 2047 words by the client...
    await send(catcher, message(subject, text="Schöne Grüße, Zoë\n", html="<p>Schöne Grüße, Zoë</p>"))
    # ...and as raw UTF-8 with SMTPUTF8, to an internationalised address.
    await asyncio.to_thread(send_with_smtplib, catcher, message(subject, to="zoë@exämple.com", text="naïve\n"))
    encoded, raw = read_mailbox(catcher.directory)
    assert encoded.subject == raw.subject == subject
    assert encoded.text.strip() == "Schöne Grüße, Zoë" and encoded.html.strip() == "<p>Schöne Grüße, Zoë</p>"
    assert raw.to == "zoë@exämple.com" and raw.text.strip() == "naïve"


async def test_a_unicode_subject_sent_by_the_smtp_provider_survives(catcher: MailCatcher) -> None:
    sender = SmtpSender(catcher.host, catcher.port, timeout=5)
    email = OutgoingEmail(
        message_id="m1",
        to="Zoë Ö <zoe@example.com>",
        from_="Café Shop <shop@example.com>",
        subject="Ihr Warenkorb wartet — 🛒",
        html="<p>Bis gleich, Zoë</p>",
        text="Bis gleich, Zoë",
    )
    try:
        await sender.send(email)
    finally:
        await sender.aclose()
    [mail] = read_mailbox(catcher.directory)
    assert mail.subject == "Ihr Warenkorb wartet — 🛒"
    assert (mail.to, mail.from_) == ("Zoë Ö <zoe@example.com>", "Café Shop <shop@example.com>")
    assert (mail.text, mail.html) == ("Bis gleich, Zoë", "<p>Bis gleich, Zoë</p>")
    assert mail.message["X-Journeys-Message-Id"] == "m1"


async def test_a_line_starting_with_a_dot_is_not_mangled(catcher: MailCatcher) -> None:
    await send(catcher, message("Dots", text="before\n.\n..two dots\n.one dot\nafter\n"))
    [mail] = read_mailbox(catcher.directory)
    assert mail.text.splitlines() == ["before", ".", "..two dots", ".one dot", "after"]


async def test_mail_outlives_the_catcher_and_stopping_it_frees_the_port(tmp_path: Path) -> None:
    port = free_port()
    with MailCatcher(tmp_path / "mail", port=port) as running:
        assert (running.host, running.port) == ("127.0.0.1", port)
        assert port_in_use("127.0.0.1", port)
        await send(running, message("kept"))
    assert not port_in_use("127.0.0.1", port)
    assert [m.subject for m in read_mailbox(tmp_path / "mail")] == ["kept"]
    with MailCatcher(tmp_path / "mail", port=port) as again:  # the next `journeys dev` adds to it
        await send(again, message("added"))
    assert [m.subject for m in read_mailbox(tmp_path / "mail")] == ["kept", "added"]


def test_a_mailbox_that_was_never_written_reads_as_empty(tmp_path: Path) -> None:
    assert read_mailbox(tmp_path / "no-mail-yet") == []
