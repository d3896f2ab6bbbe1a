"""SMTP adapter (aiosmtplib): any SMTP relay, and the local mail catcher in development.

Connections are kept open and reused (a small pool), as every bulk sender does: a fresh
connection per email costs a TCP handshake, EHLO (and STARTTLS/AUTH) each time.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid, parseaddr

import aiosmtplib

from journeys.providers.base import MissingSetting, OutgoingEmail, PermanentSendError, TransientSendError
from journeys.storage.settings import Settings

# Servers drop idle clients (often after 60-300 s); don't reuse one idle this long.
MAX_IDLE_SECONDS = 30.0
POOL_SIZE = 8


class SmtpSender:
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool = False,
        use_tls: bool = False,
        tls_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
    ) -> None:
        if start_tls and use_tls:
            raise ValueError("choose STARTTLS (JOURNEYS_SMTP_STARTTLS) or implicit TLS (JOURNEYS_SMTP_TLS), not both")
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.start_tls, self.use_tls, self.tls_context, self.timeout = start_tls, use_tls, tls_context, timeout
        self._idle: list[tuple[_Client, float]] = []

    @classmethod
    def from_settings(cls, settings: Settings) -> "SmtpSender":
        if settings.smtp_username and not settings.smtp_password:
            raise MissingSetting("JOURNEYS_SMTP_PASSWORD must be set when JOURNEYS_SMTP_USERNAME is")
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_starttls,
            use_tls=settings.smtp_tls,
            timeout=settings.smtp_timeout_seconds,
        )

    def build(self, email: OutgoingEmail) -> Message:
        # email.mime with the compat32 policy: several times cheaper than EmailMessage's
        # header registry, and the same bytes on the wire (UTF-8, RFC 2047 headers).
        msg = MIMEMultipart("alternative")
        msg["From"] = _address(email.from_)
        msg["To"] = _address(email.to)
        msg["Subject"] = Header(email.subject, "utf-8").encode() if not email.subject.isascii() else email.subject
        msg["Date"] = formatdate(localtime=False)
        domain = parseaddr(email.from_)[1].rpartition("@")[2] or "journeys.local"
        msg["Message-ID"] = make_msgid(idstring=email.message_id, domain=domain)
        msg["X-Journeys-Message-Id"] = email.message_id
        for name, value in email.headers.items():
            msg[name] = value
        msg.attach(MIMEText(email.text, "plain", "utf-8"))
        msg.attach(MIMEText(email.html, "html", "utf-8"))
        return msg

    async def send(self, email: OutgoingEmail) -> str:
        msg = self.build(email)
        client, reused = await self._checkout()
        try:
            await self._transact(client, msg)
        except aiosmtplib.SMTPServerDisconnected as exc:
            await _close(client)
            if client.data_started or not reused:
                raise _classify(exc, self.host, self.port, sending=client.data_started) from exc
            # A pooled connection the server had closed before we got to DATA: one fresh try.
            client, _ = await self._checkout(fresh=True)
            try:
                await self._transact(client, msg)
            except BaseException as retry_exc:
                await _close(client)
                raise _classify(retry_exc, self.host, self.port, sending=client.data_started) from retry_exc
        except BaseException as exc:
            await _close(client)
            raise _classify(exc, self.host, self.port, sending=client.data_started) from exc
        self._checkin(client)
        return str(msg["Message-ID"])

    @staticmethod
    async def _transact(client: "_Client", msg: Message) -> None:
        client.data_started = False
        await client.send_message(msg)

    async def _checkout(self, fresh: bool = False) -> tuple["_Client", bool]:
        now = time.monotonic()
        while self._idle and not fresh:
            client, since = self._idle.pop()
            if now - since < MAX_IDLE_SECONDS and client.is_connected:
                return client, True
            await _close(client)
        client = _Client(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            # Certificates are verified (against tls_context's CAs when given).
            start_tls=self.start_tls,
            use_tls=self.use_tls,
            tls_context=self.tls_context,
            timeout=self.timeout,
        )
        try:
            await client.connect()
        except BaseException as exc:
            raise _classify(exc, self.host, self.port) from exc
        return client, False

    def _checkin(self, client: "_Client") -> None:
        if len(self._idle) < POOL_SIZE:
            self._idle.append((client, time.monotonic()))
        else:
            asyncio.ensure_future(_close(client))

    async def aclose(self) -> None:
        while self._idle:
            await _close(self._idle.pop()[0])


class _Client(aiosmtplib.SMTP):
    """An SMTP connection that knows whether this transaction got as far as DATA: a failure
    before it proves the message was not handed over; one after it may have been."""

    data_started = False

    async def data(self, message: str | bytes, timeout: float | None = None) -> aiosmtplib.SMTPResponse:  # type: ignore[override]
        self.data_started = True
        return await super().data(message, timeout=timeout)


def _address(value: str) -> str:
    """'Ann Ö <ann@example.com>' with the display name RFC 2047-encoded where needed."""
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if name else address


async def _close(client: aiosmtplib.SMTP) -> None:
    try:
        if client.is_connected:
            await asyncio.wait_for(client.quit(), timeout=2)
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()


def _classify(exc: BaseException, host: str, port: int, sending: bool = False) -> BaseException:
    """Permanent (don't retry) or transient (retry with backoff), by SMTP reply code.

    ``sending``: the failure came once DATA had begun. A reply code says what the server
    did; a lost connection or a timeout there may have come after the server took the
    message, so it counts as maybe sent (never sent again by us).
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refusals = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        if exc.recipients and all(500 <= r.code < 600 for r in exc.recipients):
            # 5xx to RCPT TO: the mailbox does not exist or will never take mail.
            return PermanentSendError(f"recipient refused: {refusals}", hard_bounce=True)
        return TransientSendError(f"recipient deferred: {refusals}")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return PermanentSendError(f"SMTP authentication failed: {exc}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if 500 <= exc.code < 600:
            return PermanentSendError(f"SMTP {exc.code}: {exc.message}")
        return TransientSendError(f"SMTP {exc.code}: {exc.message}")
    if isinstance(exc, (aiosmtplib.SMTPException, OSError, TimeoutError)):
        return TransientSendError(f"SMTP {host}:{port}: {exc}", maybe_sent=sending)
    return exc
