"""SMTP adapter (aiosmtplib): any SMTP relay, and the local mail catcher in development."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from activities.esp.base import OutgoingEmail, PermanentSendError, TransientSendError
from core.settings import Settings


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
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.start_tls, self.timeout = start_tls, timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> "SmtpSender":
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )

    def build(self, email: OutgoingEmail) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = email.from_
        msg["To"] = email.to
        msg["Subject"] = email.subject
        msg["Date"] = formatdate(localtime=False)
        domain = email.from_.rsplit("@", 1)[-1].strip(" >") or "journeys.local"
        msg["Message-ID"] = make_msgid(idstring=email.message_id, domain=domain)
        msg["X-Journeys-Message-Id"] = email.message_id
        for name, value in email.headers.items():
            msg[name] = value
        msg.set_content(email.text)
        msg.add_alternative(email.html, subtype="html")
        return msg

    async def send(self, email: OutgoingEmail) -> str:
        msg = self.build(email)
        try:
            await aiosmtplib.send(
                msg,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                start_tls=self.start_tls if self.start_tls else False,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentSendError(f"recipient refused: {exc.recipients}") from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise PermanentSendError(f"SMTP authentication failed: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentSendError(f"SMTP {exc.code}: {exc.message}") from exc
            raise TransientSendError(f"SMTP {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientSendError(f"SMTP {self.host}:{self.port}: {exc}") from exc
        return str(msg["Message-ID"])
