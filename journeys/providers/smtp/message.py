"""The bytes the SMTP adapter sends: MIME built once, then DKIM-signed over exactly those bytes.

What receivers look at, and why each is so:

* ``Message-ID: <our message id@the From domain>``: on the sender's own domain, and the same
  for every attempt at one message, so a retry the relay took twice reads as one message.
* ``Date`` in UTC with a numeric zone (``+0000``; ``-0000`` would mean "zone unknown").
* ``multipart/alternative``, text first and HTML second, both UTF-8 and quoted-printable:
  mostly-ASCII text stays readable on the wire (base64 hides it, which filters dislike),
  and the message is 7-bit clean, so no relay re-encodes it and breaks the signature.
* Header values outside ASCII are RFC 2047 encoded words; a body line starting "From " is
  written "=46rom " (quoted-printable for the same F), so no mbox on the way adds a ">".
  So is a subject with a word too long for one header line (a 1,200-character name):
  encoded words can be split where plain text cannot, so no line is over 78 characters
  where it can be helped, and none is ever over SMTP's 998.
* Addresses: a domain outside ASCII (``ann@bücher.example``) is written as DNS knows it,
  in punycode (IDNA 2008 with UTS 46 mapping: ``ann@xn--bcher-kva.example``), in the
  headers and the envelope alike. A mailbox name outside ASCII (``jörg@``) can only be
  sent as itself, UTF-8 in the envelope and the headers (SMTPUTF8, RFC 6531/6532): then
  that message alone is 8-bit, and a relay without SMTPUTF8 refuses it for good.

A message that cannot be written (an address that is none, a domain that has no ASCII
form) is a ``MessageError``: permanent, raised before any connection is made, so it is
logged as failed and never as "may have been sent".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import format_datetime, formataddr, parseaddr
from io import BytesIO

import idna

from journeys.providers.base import OutgoingEmail, PermanentSendError
from journeys.providers.smtp.dkim import DkimSigner

# email.mime with the compat32 policy: several times cheaper than EmailMessage's header
# registry. CRLF from the start: these bytes are signed and sent as they are. compat32
# would write a body line "From ..." as ">From ..." (for mbox files); a line of ours that
# starts so is written "=46rom ..." instead (below), which is the same text once decoded
# and which no mbox on the way rewrites (that would break the DKIM body hash).
_WIRE = compat32.clone(linesep="\r\n", mangle_from_=False)
# For a message with a mailbox name outside ASCII (SMTPUTF8): header text given as
# surrogate-escaped UTF-8 goes out as those bytes instead of being RFC 2047-encoded.
_WIRE_UTF8 = _WIRE.clone(cte_type="8bit")
# RFC 5322 2.1.1: a line is at most 998 characters, and should be at most 78.
MAX_LINE, FOLD_AT = 998, 78
_FROM_LINE = re.compile(r"^From ", re.MULTILINE)
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # a copy of the registry's utf-8 (base64 bodies by default); not changed globally
# What may stand left of the @ in a Message-ID (RFC 5322 dot-atom-text).
_NOT_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]")


@dataclass(frozen=True)
class WireMessage:
    data: bytes
    message_id: str  # the Message-ID header, <...@domain>
    sender: str  # MAIL FROM
    recipients: list[str]  # RCPT TO


class MessageError(PermanentSendError):
    """The message cannot be written as given; nothing was sent, and no retry would differ."""


def build(email: OutgoingEmail, signer: DkimSigner | None = None, now: datetime | None = None) -> WireMessage:
    from_header, sender = _mailbox(email.from_, "From")
    to_header, recipient = _mailbox(email.to, "To")
    msg = MIMEMultipart("alternative")
    _put(msg, "From", from_header)
    _put(msg, "To", to_header)
    _put(msg, "Subject", _header_value(email.subject, "Subject"))
    msg["Date"] = format_datetime(now or datetime.now(timezone.utc))
    message_id = message_id_for(email.message_id, sender.rpartition("@")[2] or (signer.domain if signer else ""))
    msg["Message-ID"] = message_id
    msg["X-Journeys-Message-Id"] = email.message_id
    for name, value in email.headers.items():
        # List-Unsubscribe, List-Id: structured (URIs, an id), never encoded words.
        _put(msg, name, _one_line(value, name) if name.lower().startswith("list-") else _header_value(value, name))
    for body, subtype in ((email.text, "plain"), (email.html, "html")):
        part = MIMENonMultipart("text", subtype)
        part.set_payload(body, _UTF8_QP)  # what MIMEText does, with the charset's QP body encoding
        part.set_payload(_FROM_LINE.sub("=46rom ", str(part.get_payload())))
        del part["MIME-Version"]  # said once, at the top (RFC 2045 4)
        msg.attach(part)
    out = BytesIO()
    BytesGenerator(out, policy=_WIRE if (sender + recipient).isascii() else _WIRE_UTF8).flatten(msg)
    data = out.getvalue()
    _check_line_lengths(data.split(b"\r\n\r\n", 1)[0])
    if signer is not None:
        data = signer.sign(data) + data
    return WireMessage(data=data, message_id=message_id, sender=sender, recipients=[recipient])


def _put(msg: MIMEMultipart, name: str, value: str | Header) -> None:
    msg[name] = value  # type: ignore[assignment]  # compat32 takes a Header too, and folds it as encoded words


def _check_line_lengths(head: bytes) -> None:
    """A header line over 998 octets would be refused by a relay (or cut, breaking the signature)."""
    name = b""
    for line in head.split(b"\r\n"):
        if line[:1] not in (b" ", b"\t"):
            name = line.partition(b":")[0]
        if len(line) > MAX_LINE:
            shown = name.decode("ascii", "replace")[:40]
            raise MessageError(f"the {shown} header has a line of {len(line)} characters; SMTP allows {MAX_LINE}")


def message_id_for(our_id: str, domain: str) -> str:
    """``<our id@domain>``: derived from our message id alone, so every attempt carries the same."""
    try:
        domain = ascii_domain(domain).lower()  # a header stays ASCII
    except ValueError:
        domain = ""
    return f"<{_NOT_ATEXT.sub('-', our_id).strip('.') or 'message'}@{domain or 'journeys.local'}>"


def ascii_domain(domain: str) -> str:
    """The domain as DNS and SMTP know it: as written if ASCII, else its punycode (IDNA
    2008 with UTS 46 mapping, as browsers and mail clients read it). ValueError if none."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(f"{domain!r} is not a domain name ({exc})") from None


def _mailbox(value: str, field: str) -> tuple[str | Header, str]:
    """The header value and the envelope address of ``Name <local@domain>``: the name RFC
    2047-encoded where needed, the domain in ASCII; the local part as it is (in UTF-8,
    where it is not ASCII: SMTPUTF8)."""
    name, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(ch in value for ch in "\r\n\0"):
        raise MessageError(f"{field}: {value!r} is not an email address")
    try:
        address = f"{local}@{ascii_domain(domain)}"
    except ValueError as exc:
        raise MessageError(f"{field}: {exc}") from None
    if not local.isascii():
        # Raw UTF-8 (RFC 6532), surrogate-escaped for the generator to write as bytes;
        # the name as formataddr writes it (which refuses an address outside ASCII).
        shown = formataddr((name, "x@x"), charset="utf-8").removesuffix(" <x@x>") + f" <{address}>" if name else address
        return shown.encode("utf-8").decode("ascii", "surrogateescape"), address
    if not name:
        return address, address
    if name.isascii() and _fits(name, field):
        return formataddr((name, address)), address
    # A name outside ASCII, or with a word too long for a line: encoded words, split.
    header = Header(name, "utf-8", header_name=field)
    header.append(f" <{address}>", "us-ascii")
    return header, address


def _fits(value: str, name: str) -> bool:
    """Whether compat32 can fold ``value`` into lines of at most 78 (it folds at spaces only)."""
    return all(len(word) <= FOLD_AT - len(name) - 2 for word in value.split())


def _one_line(value: str, name: str) -> str:
    if not isinstance(value, str) or any(ch in value for ch in "\r\n\0"):
        raise MessageError(f"the {name} header must be one line of text, got {value!r:.80}")  # no header added through it
    return value


def _header_value(value: str, name: str) -> str | Header:
    """As written if it is ASCII and folds; else encoded words (RFC 2047) in lines of 78."""
    if _one_line(value, name).isascii() and _fits(value, name):
        return value
    return Header(value, "utf-8", header_name=name)
