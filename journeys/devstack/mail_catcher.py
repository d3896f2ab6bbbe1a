"""The development mail catcher: an SMTP server that keeps every message as an .eml file.

``journeys dev`` runs it on 127.0.0.1:1025 and the API lists the mailbox at /dev/mail.
Tests run the same server on a free port, so the end-to-end test reads real SMTP mail.
"""

from __future__ import annotations

import email
import email.policy
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("journeys.mail")


class _SaveToDirectory:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%f")
        name = f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        content = envelope.original_content or b""
        # Write then rename, so a reader never sees half a message.
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(content)
        tmp.rename(self.directory / name)
        log.info("caught mail for %d recipient(s): %s", len(envelope.rcpt_tos), name)
        return "250 Message accepted for delivery"


class MailCatcher:
    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 1025) -> None:
        self.directory = Path(directory)
        self._controller = Controller(_SaveToDirectory(self.directory), hostname=host, port=port)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def host(self) -> str:
        return str(self._controller.hostname)

    def start(self) -> "MailCatcher":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> "MailCatcher":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()


@dataclass(frozen=True)
class CaughtMail:
    name: str
    received_at: datetime
    to: str
    from_: str
    subject: str
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""


def read_mailbox(directory: Path) -> list[CaughtMail]:
    """Every caught message, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    mails = []
    for path in sorted(directory.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        mails.append(
            CaughtMail(
                name=path.name,
                received_at=datetime.fromtimestamp(path.stat().st_mtime, timezone.utc),
                to=str(message.get("To", "")),
                from_=str(message.get("From", "")),
                subject=str(message.get("Subject", "")),
                message=message,
            )
        )
    return mails
