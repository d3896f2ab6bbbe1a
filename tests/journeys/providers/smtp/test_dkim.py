"""DKIM: `journeys dkim keygen` makes a key and the DNS record; the SMTP adapter signs what it
sends with it; dkimpy's verifier, reading the printed record as DNS would answer it, passes
the message the mail catcher received, and fails it once anything signed is changed."""

from __future__ import annotations

import email
import email.policy
import re
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from unittest import mock

import dkim
import pytest

from journeys.cli.main import build_parser
from journeys.devstack.mail_catcher import MailCatcher
from journeys.providers.base import OutgoingEmail
from journeys.providers.smtp.dkim import DkimSigner
from journeys.providers.smtp.sender import SmtpSender
from journeys.storage.settings import Settings
from tests.conftest import free_port

EMAIL = OutgoingEmail(
    message_id="9f2c4e1ab7d34c0e8a51f0b2c6d7e8f9",
    to="Zoë Lee <zoe@example.org>",
    from_="Shop <hello@shop.example.com>",
    subject="Your cart is waiting — 10% off",
    html="<p>Hello Zoë, your cart is waiting.</p>",
    text="Hello Zoë, your cart is waiting.",
    headers={
        "List-Unsubscribe": "<https://shop.example.com/u/abc123>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": "Shop offers <offers.shop.example.com>",
    },
)


def keygen(tmp_path: Path, capsys: pytest.CaptureFixture[str], *options: str) -> tuple[Path, str]:
    """Run `journeys dkim keygen`; the key file and the printed zone-file line."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "dkim.pem"
    args = build_parser().parse_args(["dkim", "keygen", "--out", str(out), *options])
    assert args.func(args) == 0
    [record] = [line for line in capsys.readouterr().out.splitlines() if " IN TXT " in line]
    return out, record


def resolver(record: str):  # type: ignore[no-untyped-def]
    """A dnsfunc answering the record's name with its strings joined, as a resolver does."""
    name = record.split()[0]
    text = "".join(re.findall(r'"([^"]*)"', record)).encode()

    def dnsfunc(qname: bytes, timeout: int = 5) -> bytes | None:
        return text if qname.decode().lower() == name.lower() else None

    return dnsfunc


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[MailCatcher]:
    with MailCatcher(tmp_path / "mail", port=free_port()) as running:
        yield running


async def send_and_catch(catcher: MailCatcher, settings: Settings, email: OutgoingEmail = EMAIL) -> bytes:
    """Send over real SMTP with the adapter the worker would build; the bytes the server got."""
    sender = SmtpSender.from_settings(settings.model_copy(update={"smtp_port": catcher.port}))
    try:
        await sender.send(email)
    finally:
        await sender.aclose()
    [path] = sorted(catcher.directory.glob("*.eml"))
    return path.read_bytes()


def dkim_settings(key_file: Path, **more: object) -> Settings:
    return Settings(dkim_domain="shop.example.com", dkim_selector="s2026", dkim_private_key_file=str(key_file), **more)  # type: ignore[arg-type]


async def test_a_message_sent_over_smtp_verifies_against_the_record_keygen_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], catcher: MailCatcher
) -> None:
    key_file, record = keygen(tmp_path, capsys, "--selector", "s2026", "--domain", "shop.example.com")
    assert record.startswith('s2026._domainkey.shop.example.com. IN TXT "v=DKIM1; k=rsa; p=')
    raw = await send_and_catch(catcher, dkim_settings(key_file))

    assert raw.startswith(b"DKIM-Signature: "), "signed once, on top"
    assert raw.count(b"DKIM-Signature:") == 1
    assert dkim.verify(raw, dnsfunc=resolver(record)) is True
    fields = dkim.util.parse_tag_value(re.search(rb"^DKIM-Signature: (.*?)\r\n(?=\S)", raw, re.S | re.M)[1])  # type: ignore[index]
    assert (fields[b"a"], fields[b"c"], fields[b"d"], fields[b"s"]) == (b"rsa-sha256", b"relaxed/relaxed", b"shop.example.com", b"s2026")
    signed = [h.strip().lower() for h in re.sub(rb"\s", b"", fields[b"h"]).split(b":")]
    assert signed == [
        b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type",
        b"list-unsubscribe", b"list-unsubscribe-post", b"list-id", b"from",
    ], "every header that says who, what and how to leave; From a second time, so none can be added"


async def test_anything_signed_changed_on_the_way_fails_verification(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], catcher: MailCatcher
) -> None:
    key_file, record = keygen(tmp_path, capsys, "--selector", "s2026", "--domain", "shop.example.com")
    raw = await send_and_catch(catcher, dkim_settings(key_file))
    dnsfunc = resolver(record)
    assert dkim.verify(raw, dnsfunc=dnsfunc)
    body = raw.index(b"\r\n\r\n")
    tampered_body = raw[:body] + raw[body:].replace(b"your cart is waiting", b"your cart is wasting", 1)
    assert tampered_body != raw and not dkim.verify(tampered_body, dnsfunc=dnsfunc)
    tampered_subject = raw.replace(b"Subject: ", b"Subject: Re: ", 1)
    assert not dkim.verify(tampered_subject, dnsfunc=dnsfunc)
    added_from = b"From: ceo@shop.example.com\r\n" + raw
    assert not dkim.verify(added_from, dnsfunc=dnsfunc)
    # What relaxed canonicalization is for: a relay re-folding a header or adding its own.
    relayed = b"Received: from relay.example.net by mx.example.org; Wed, 2 Dec 2026 10:00:00 +0000\r\n" + raw
    assert dkim.verify(relayed.replace(b"List-Unsubscribe-Post: ", b"List-Unsubscribe-Post:   ", 1), dnsfunc=dnsfunc)
    other_key, other_record = keygen(tmp_path / "other", capsys, "--selector", "s2026", "--domain", "shop.example.com")
    assert not dkim.verify(raw, dnsfunc=resolver(other_record)), "a record with another key"


def test_the_signature_is_the_one_dkimpy_itself_makes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Only the RSA step is OpenSSL's (dkimpy's is pure Python, ~7 ms a message): the header
    is byte for byte what dkim.sign writes for the same message, key and time."""
    key_file, _ = keygen(tmp_path, capsys)
    pem = key_file.read_bytes()
    signer = DkimSigner.from_pem(pem, domain="shop.example.com", selector="s1")
    from journeys.providers.smtp.message import build

    message = build(EMAIL).data
    names = [b"From", b"To", b"Subject", b"Date", b"Message-ID", b"MIME-Version", b"Content-Type",
             b"List-Unsubscribe", b"List-Unsubscribe-Post", b"List-Id", b"From"]
    with mock.patch("time.time", return_value=1_796_000_000):
        ours = signer.sign(message)
        theirs = dkim.sign(message, b"s1", b"shop.example.com", pem, canonicalize=(b"relaxed", b"relaxed"), include_headers=names)
    assert ours == theirs


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file, record = keygen(tmp_path, capsys, "--bits", "3072", "--selector", "mail", "--domain", "Example.COM.")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    assert record.startswith("mail._domainkey.example.com. IN TXT ")
    strings = re.findall(r'"([^"]*)"', record)
    assert len(strings) == 3 and all(len(s) <= 255 for s in strings) and len(strings[0]) == 255, "DNS strings are 255 at most"
    assert DkimSigner.from_pem(key_file.read_text(), domain="example.com", selector="mail").key.key_size == 3072

    before = key_file.read_bytes()
    args = build_parser().parse_args(["dkim", "keygen", "--out", str(key_file)])
    assert args.func(args) == 1
    assert "exists; not overwritten" in capsys.readouterr().err
    assert key_file.read_bytes() == before
    args = build_parser().parse_args(["dkim", "keygen", "--bits", "512", "--out", str(tmp_path / "weak.pem")])
    assert args.func(args) == 2 and not (tmp_path / "weak.pem").exists()


def test_keygen_defaults_to_the_configured_selector_and_the_from_domain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from journeys.storage.settings import get_settings

    monkeypatch.setenv("JOURNEYS_FROM_EMAIL", "Shop <hello@news.shop.example>")
    # Domain and selector set, no key yet: the state this command is run in; not an error here.
    monkeypatch.setenv("JOURNEYS_DKIM_SELECTOR", "jan2027")
    get_settings.cache_clear()
    try:
        _, record = keygen(tmp_path, capsys, "--bits", "1024")
    finally:
        get_settings.cache_clear()
    assert record.startswith("jan2027._domainkey.news.shop.example. IN TXT ")


async def test_a_subject_split_into_encoded_words_and_punycode_addresses_still_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], catcher: MailCatcher
) -> None:
    key_file, record = keygen(tmp_path, capsys, "--selector", "s2026", "--domain", "shop.example.com")
    long_name = "A" * 1200  # one first_name, no space to fold at
    email_ = replace(EMAIL, to="Zoë <zoe@bücher.example>", from_="Shop Ünd Co <hello@shop.example.com>",
                     subject=f"{long_name}, your cart is waiting — 10% off")
    raw = await send_and_catch(catcher, dkim_settings(key_file), email_)
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert max(len(line) for line in head) <= 78, "every header line folds, the subject's too"
    assert dkim.verify(raw, dnsfunc=resolver(record)) is True
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == email_.subject and message["To"] == "Zoë <zoe@xn--bcher-kva.example>"


def test_keygen_refuses_what_is_not_a_dns_name_and_a_folder_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for options, said in ((["--selector", "bad sel;x", "--domain", "shop.example.com"], "--selector 'bad sel;x' is not a DNS name"),
                          (["--selector", "s1", "--domain", "a b;c.com"], "--domain 'a b;c.com' is not a DNS name"),
                          (["--selector", "s1", "--domain=-shop.example.com"], "--domain '-shop.example.com' is not a DNS name"),
                          (["--selector", "s1", "--domain", "x.com", "--out", str(tmp_path / "nowhere" / "k.pem")],
                           f"cannot write {tmp_path / 'nowhere' / 'k.pem'}: No such file or directory")):
        out = [] if "--out" in options else ["--out", str(tmp_path / "k.pem")]
        args = build_parser().parse_args(["dkim", "keygen", *out, *options])
        assert args.func(args) == 2, options
        assert capsys.readouterr().err == f"journeys dkim keygen: {said}" + ("" if said.startswith("cannot") else
                                                                             " (letters, digits and hyphens, dot-separated)") + "\n"
        assert not (tmp_path / "k.pem").exists()
    _, record = keygen(tmp_path / "idn", capsys, "--selector", "s1", "--domain", "Bücher.example")
    assert record.startswith("s1._domainkey.xn--bcher-kva.example. IN TXT "), "DNS names it in punycode"
