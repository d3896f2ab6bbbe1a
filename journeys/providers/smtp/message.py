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

from journeys.providers.base import OutgoingEmail
from journeys.providers.smtp.dkim import DkimSigner

# email.mime with the compat32 policy: several times cheaper than EmailMessage's header
# registry. CRLF from the start: these bytes are signed and sent as they are. compat32
# would write a body line "From ..." as ">From ..." (for mbox files); a line of ours that
# starts so is written "=46rom ..." instead (below), which is the same text once decoded
# and which no mbox on the way rewrites (that would break the DKIM body hash).
_WIRE = compat32.clone(linesep="\r\n", mangle_from_=False)
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


def build(email: OutgoingEmail, signer: DkimSigner | None = None, now: datetime | None = None) -> WireMessage:
    msg = MIMEMultipart("alternative")
    msg["From"] = _address(email.from_)
    msg["To"] = _address(email.to)
    msg["Subject"] = _header_value(email.subject)
    msg["Date"] = format_datetime(now or datetime.now(timezone.utc))
    sender = parseaddr(email.from_)[1]
    message_id = message_id_for(email.message_id, sender.rpartition("@")[2] or (signer.domain if signer else ""))
    msg["Message-ID"] = message_id
    msg["X-Journeys-Message-Id"] = email.message_id
    for name, value in email.headers.items():
        msg[name] = _header_value(value)
    for body, subtype in ((email.text, "plain"), (email.html, "html")):
        part = MIMENonMultipart("text", subtype)
        part.set_payload(body, _UTF8_QP)  # what MIMEText does, with the charset's QP body encoding
        part.set_payload(_FROM_LINE.sub("=46rom ", str(part.get_payload())))
        del part["MIME-Version"]  # said once, at the top (RFC 2045 4)
        msg.attach(part)
    out = BytesIO()
    BytesGenerator(out, policy=_WIRE).flatten(msg)
    data = out.getvalue()
    if signer is not None:
        data = signer.sign(data) + data
    return WireMessage(data=data, message_id=message_id, sender=sender, recipients=[parseaddr(email.to)[1]])


def message_id_for(our_id: str, domain: str) -> str:
    """``<our id@domain>``: derived from our message id alone, so every attempt carries the same."""
    try:
        domain = domain.lower().encode("idna").decode("ascii")  # a header stays ASCII
    except UnicodeError:
        domain = ""
    return f"<{_NOT_ATEXT.sub('-', our_id).strip('.') or 'message'}@{domain or 'journeys.local'}>"


def _address(value: str) -> str:
    """'Ann Ö <ann@example.com>' with the display name RFC 2047-encoded where needed."""
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if name else address


def _header_value(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()
