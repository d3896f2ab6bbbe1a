"""SMTP adapter (aiosmtplib): any SMTP relay, and the local mail catcher in development.

Connections are kept open and reused (a small pool), as every bulk sender does: a fresh
connection per email costs a TCP handshake, EHLO (and STARTTLS/AUTH) each time.

Each message is built and DKIM-signed once (journeys/providers/smtp/message.py), and those
bytes are what every connection attempt sends. It is built before any connection is made:
a message that cannot be built is refused for good (``PermanentSendError``), and nothing
about it can have reached the server.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import aiosmtplib

from journeys.providers.base import MissingSetting, OutgoingEmail, PermanentSendError, TransientSendError
from journeys.providers.smtp.dkim import DkimKeyError, DkimSigner
from journeys.providers.smtp.message import MessageError, WireMessage, build
from journeys.providers.webhook_settings import InvalidSetting
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
        dkim: DkimSigner | None = None,
    ) -> None:
        if start_tls and use_tls:
            raise ValueError("choose STARTTLS (JOURNEYS_SMTP_STARTTLS) or implicit TLS (JOURNEYS_SMTP_TLS), not both")
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.start_tls, self.use_tls, self.tls_context, self.timeout = start_tls, use_tls, tls_context, timeout
        self.dkim = dkim
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
            dkim=dkim_signer(settings),
        )

    def build(self, email: OutgoingEmail) -> WireMessage:
        try:
            return build(email, self.dkim)
        except MessageError:
            raise
        except Exception as exc:  # a bug of ours or of a library's: still nothing was sent, and a retry builds it the same
            raise MessageError(f"the message could not be built: {type(exc).__name__}: {exc}") from exc

    async def send(self, email: OutgoingEmail) -> str:
        msg = self.build(email)  # first: nothing below may run for a message that cannot be sent
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
        return msg.message_id

    @staticmethod
    async def _transact(client: "_Client", msg: WireMessage) -> None:
        client.data_started = False
        options = []
        if not (msg.sender + "".join(msg.recipients)).isascii():
            # A mailbox name outside ASCII (RFC 6531), as aiosmtplib's send_message would ask;
            # everything else we write is 7-bit (quoted-printable, RFC 2047 headers, punycode).
            options += ["SMTPUTF8", "BODY=8BITMIME"]
        try:
            await client.sendmail(msg.sender, msg.recipients, msg.data, mail_options=options)
        except aiosmtplib.SMTPNotSupported as exc:
            if "SMTPUTF8" not in options or "SMTPUTF8" not in exc.message:
                raise
            # Known after EHLO, before MAIL FROM: nothing sent, and this relay never will (_classify).
            unsent = next(a for a in (msg.sender, *msg.recipients) if not a.isascii())
            raise _NoSmtpUtf8(f"{unsent} has a mailbox name outside ASCII, which needs SMTPUTF8, "
                              f"and the SMTP server does not offer it") from exc

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


class _NoSmtpUtf8(aiosmtplib.SMTPNotSupported):
    """A mailbox name outside ASCII, and a server without SMTPUTF8: permanent."""


class _Client(aiosmtplib.SMTP):
    """An SMTP connection that knows whether this transaction got as far as DATA: a failure
    before it proves the message was not handed over; one after it may have been."""

    data_started = False

    async def data(self, message: str | bytes, timeout: float | None = None) -> aiosmtplib.SMTPResponse:  # type: ignore[override]
        self.data_started = True
        return await super().data(message, timeout=timeout)


def dkim_signer(settings: Settings) -> DkimSigner | None:
    """The signer JOURNEYS_DKIM_* describe, or None. Settings saw that they come together;
    the key is read and parsed here, when the worker starts, so a bad one stops it with the
    setting's name instead of failing every send."""
    if not settings.dkim_domain or not settings.dkim_selector:
        return None
    name = "JOURNEYS_DKIM_PRIVATE_KEY"
    pem = settings.dkim_private_key
    if settings.dkim_private_key_file:
        name += "_FILE"
        try:
            pem = Path(settings.dkim_private_key_file).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidSetting(f"{name}: cannot read {settings.dkim_private_key_file} ({exc})") from exc
    try:
        return DkimSigner.from_pem(pem or "", domain=settings.dkim_domain, selector=settings.dkim_selector)
    except DkimKeyError as exc:
        raise InvalidSetting(f"{name}: {exc}") from exc


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
    if isinstance(exc, _NoSmtpUtf8):
        return PermanentSendError(exc.message)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return PermanentSendError(f"SMTP authentication failed: {exc}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if 500 <= exc.code < 600:
            return PermanentSendError(f"SMTP {exc.code}: {exc.message}")
        return TransientSendError(f"SMTP {exc.code}: {exc.message}")
    if isinstance(exc, (aiosmtplib.SMTPException, OSError, TimeoutError)):
        return TransientSendError(f"SMTP {host}:{port}: {exc}", maybe_sent=sending)
    return exc
