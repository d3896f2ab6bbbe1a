"""An ESP that keeps what it is given, for journey tests (the test kit's "outbox")."""

from __future__ import annotations

from journeys.providers.base import OutgoingEmail


class CaptureSender:
    name = "capture"

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []

    async def send(self, email: OutgoingEmail) -> str:
        self.sent.append(email)
        return f"capture-{email.message_id}"

    async def aclose(self) -> None:
        pass
