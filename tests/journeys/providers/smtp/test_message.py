"""What the SMTP adapter puts on the wire: a Message-ID on the sender's domain that every
attempt shares, a Date with a real zone, UTF-8 quoted-printable parts, 7-bit clean bytes."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path

import pytest

from journeys.devstack.mail_catcher import MailCatcher
from journeys.providers.base import OutgoingEmail, PermanentSendError
from journeys.providers.smtp.message import MessageError, build, message_id_for
from journeys.providers.smtp.sender import SmtpSender
from tests.conftest import free_port

EMAIL = OutgoingEmail(
    message_id="0b7a2f9c41d84e6f9a3c5d1e2f4a6b8c",
    to="Zoë Ö <zoe@example.org>",
    from_="Café Shop <hello@Shop.Example.com>",
    subject="Grüße — your cart is waiting",
    html="<p>Schöne Grüße, Zoë. " + "A long line of HTML that goes on. " * 6 + "</p>",
    text="Schöne Grüße, Zoë.\n\nSee you soon.\n",
    headers={"List-Id": "Shop offers <offers.shop.example.com>", "X-Campaign": "Frühling"},
)


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[MailCatcher]:
    with MailCatcher(tmp_path / "mail", port=free_port()) as running:
        yield running


def test_the_message_id_is_ours_on_the_from_domain_and_the_same_for_every_attempt() -> None:
    first = build(EMAIL, now=datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc))
    retry = build(EMAIL, now=datetime(2026, 12, 2, 9, 5, tzinfo=timezone.utc))
    assert first.message_id == retry.message_id == "<0b7a2f9c41d84e6f9a3c5d1e2f4a6b8c@shop.example.com>"
    assert parse(first.data)["Message-ID"] == first.message_id
    assert parse(first.data)["Date"] != parse(retry.data)["Date"]
    assert message_id_for("a b<c>@d", "bücher.de") == "<a-b-c--d@xn--bcher-kva.de>", "always a valid msg-id"


def test_the_date_is_utc_with_a_numeric_zone() -> None:
    when = datetime(2026, 12, 2, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    assert parse(build(EMAIL, now=when).data)["Date"] == "Wed, 02 Dec 2026 10:30:00 +0100"
    assert str(parse(build(EMAIL).data)["Date"]).endswith(" +0000"), "-0000 would say the zone is unknown"


def test_text_then_html_both_utf8_quoted_printable_and_the_whole_message_7bit() -> None:
    wire = build(EMAIL)
    assert wire.data.isascii(), "no relay has a reason to re-encode it (which would break DKIM)"
    assert b"\r\n" in wire.data and b"\n" not in wire.data.replace(b"\r\n", b""), "CRLF, as signed and sent"
    assert b"base64" not in wire.data.lower()
    message = parse(wire.data)
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    for part, subtype in ((text, "plain"), (html, "html")):
        assert part.get_content_type() == f"text/{subtype}"
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert "MIME-Version" not in part, "said once, at the top"
    # Decoded as the lines were sent: CRLF, the canonical line break of text (RFC 2045 6.7).
    assert (text.get_content(), html.get_content()) == (EMAIL.text.replace("\n", "\r\n"), EMAIL.html)
    assert max(len(line) for line in wire.data.split(b"\r\n")) <= 78, "QP keeps every line short"
    assert wire.data.count(b"MIME-Version:") == 1
    assert b"Sch=C3=B6ne Gr=C3=BC=C3=9Fe" in wire.data, "readable on the wire, not base64"


def test_headers_outside_ascii_are_encoded_words() -> None:
    message = parse(build(EMAIL).data)
    assert message["Subject"] == EMAIL.subject and message["From"] == "Café Shop <hello@Shop.Example.com>"
    assert message["To"] == "Zoë Ö <zoe@example.org>" and message["X-Campaign"] == "Frühling"
    assert message["List-Id"] == "Shop offers <offers.shop.example.com>"


async def test_a_real_send_returns_and_carries_the_message_id(catcher: MailCatcher) -> None:
    sender = SmtpSender(catcher.host, catcher.port, timeout=5)
    try:
        sent = [await sender.send(EMAIL), await sender.send(EMAIL)]  # an attempt, then its retry
    finally:
        await sender.aclose()
    caught = [parse(p.read_bytes()) for p in sorted(catcher.directory.glob("*.eml"))]
    assert sent == [m["Message-ID"] for m in caught] == ["<0b7a2f9c41d84e6f9a3c5d1e2f4a6b8c@shop.example.com>"] * 2
    texts = [m.get_body(preferencelist=("plain",)).get_content() for m in caught]  # type: ignore[union-attr]
    assert texts == [EMAIL.text.replace("\n", "\r\n")] * 2


def test_a_line_starting_with_from_reads_as_written() -> None:
    """compat32 would write it ">From ..." (its mbox habit); QP's =46 keeps the text, and an
    mbox on the way has nothing to rewrite (which would break the DKIM body hash)."""
    email_ = OutgoingEmail(message_id="m", to="a@example.org", from_="s@example.com", subject="Hours",
                           html="<p>Hi</p>\nFrom Monday: nine to six", text="Hi\nFrom Monday: nine to six\n")
    data = build(email_).data
    assert b">From" not in data and b"\r\nFrom " not in data.split(b"\r\n\r\n", 1)[1]
    text, html = parse(data).iter_parts()
    assert (text.get_content(), html.get_content()) == ("Hi\r\nFrom Monday: nine to six\r\n", "<p>Hi</p>\r\nFrom Monday: nine to six")


def head_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def test_a_domain_outside_ascii_is_punycode_in_the_headers_and_the_envelope() -> None:
    wire = build(OutgoingEmail(message_id="m1", to="ann@bücher.example", from_="Bücher Shop <news@straße.example>",
                               subject="Hi", html="<p>Hi</p>", text="Hi"))
    assert wire.data.isascii(), "still 7-bit: nothing needs SMTPUTF8"
    assert b"To: ann@xn--bcher-kva.example" in head_lines(wire.data)
    assert (wire.sender, wire.recipients) == ("news@xn--strae-oqa.example", ["ann@xn--bcher-kva.example"]), "IDNA 2008: ß stays ß"
    message = parse(wire.data)
    assert message["From"] == "Bücher Shop <news@xn--strae-oqa.example>" and message["To"] == "ann@xn--bcher-kva.example"
    assert wire.message_id == "<m1@xn--strae-oqa.example>", "on the From domain, as DNS names it"


def test_a_mailbox_name_outside_ascii_is_utf8_in_headers_and_envelope() -> None:
    """It has no ASCII form: the message needs SMTPUTF8 (RFC 6531/6532), never an encoded word,
    which would not be an address at all."""
    wire = build(OutgoingEmail(message_id="m1", to="jörg@bücher.example", from_="Shop <news@shop.example.com>",
                               subject="Grüße", html="<p>Hi</p>", text="Hi"))
    assert "To: jörg@xn--bcher-kva.example".encode() in head_lines(wire.data) and b"=?utf-8?" not in wire.data.split(b"To:")[1][:30]
    assert wire.recipients == ["jörg@xn--bcher-kva.example"]
    assert parse(wire.data)["To"] == "jörg@xn--bcher-kva.example"
    assert parse(wire.data)["Subject"] == "Grüße"


def test_a_subject_with_a_word_too_long_for_a_line_is_split_into_encoded_words() -> None:
    """A 1,200-character first name would make one line of over 998 octets, which SMTP
    servers refuse: encoded words can be split where the text has no space."""
    for subject in (f"Hi {'A' * 1200}, your cart is waiting", f"Grüße {'Ö' * 600}!", "https://" + "x" * 990):
        wire = build(OutgoingEmail(message_id="m1", to="ann@example.com", from_=f"{'S' * 300} <news@shop.example.com>",
                                   subject=subject, html="<p>Hi</p>", text="Hi"))
        assert max(len(line) for line in head_lines(wire.data)) <= 78, subject[:20]
        message = parse(wire.data)
        # RFC 2047 6.2: the space between two encoded words is no text (Python's address parser keeps it).
        sender = str(make_header(decode_header(email.message_from_bytes(wire.data)["From"])))
        assert message["Subject"] == subject and sender == f"{'S' * 300} <news@shop.example.com>"
    short = build(OutgoingEmail(message_id="m1", to="ann@example.com", from_="a@example.com", subject="Your cart is waiting",
                                html="h", text="t"))
    assert b"Subject: Your cart is waiting" in head_lines(short.data), "plain ASCII stays as written"


def test_what_cannot_be_written_is_refused_for_good_before_anything_is_sent() -> None:
    base = OutgoingEmail(message_id="m1", to="ann@example.com", from_="a@example.com", subject="s", html="h", text="t")
    for change, said in (({"to": "not an address"}, "To: 'not an address' is not an email address"),
                         ({"from_": "Shop <@bücher.example>"}, "From: 'Shop <@bücher.example>' is not an email address"),
                         ({"to": "ann@bü..example"}, "To: 'bü..example' is not a domain name"),
                         ({"subject": "Hi\r\nBcc: someone@evil.example"}, "the Subject header must be one line of text"),
                         ({"headers": {"List-Id": "x\nBcc: someone@evil.example"}}, "the List-Id header must be one line of text"),
                         ({"headers": {"List-Unsubscribe": f"<https://shop.example.com/u/{'x' * 1000}>"}},
                          "the List-Unsubscribe header has a line of 1030 characters; SMTP allows 998")):
        with pytest.raises(MessageError) as raised:
            build(replace(base, **change))  # type: ignore[arg-type]
        assert str(raised.value).startswith(said), raised.value
        assert isinstance(raised.value, PermanentSendError) and not raised.value.hard_bounce
