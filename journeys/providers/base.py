"""The one interface every ESP adapter implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutgoingEmail:
    message_id: str  # ours: ledger id, also carried to the ESP (header / metadata)
    to: str
    from_: str
    subject: str
    html: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)
    # Carried to the ESP as tags/metadata (customer_id, template, journey, step).
    metadata: dict[str, str] = field(default_factory=dict)


class PermanentSendError(Exception):
    """The ESP refused for good (bad address, rejected content, bad credentials): don't retry.

    ``hard_bounce``: the address itself does not exist; delivery suppresses it.
    """

    def __init__(self, message: str, *, hard_bounce: bool = False) -> None:
        super().__init__(message)
        self.hard_bounce = hard_bounce
        self.esp: str | None = None  # which ESP refused (set by failover)


class TransientSendError(Exception):
    """Worth retrying later (connection trouble, 4xx SMTP replies, 429, 5xx).

    ``retry_after``: seconds the ESP asked us to wait (a Retry-After header), if it said.
    ``maybe_sent``: the request may have reached the ESP (e.g. a timeout waiting for the
    answer), so the retry must not go to another ESP (failover would risk a double send).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent
        self.esp: str | None = None  # which ESP failed (set by failover)


class MissingSetting(Exception):
    """The chosen ESP lacks a credential; the message names the setting (the worker refuses to start)."""


class EmailSender(Protocol):
    """One ESP. An adapter whose ESP drops a repeated send itself (an idempotency key, as
    Resend's) also says for how long, ``dedupe_window = <seconds>``: only within it may a
    send that may have reached that ESP be retried (activities/sending.py)."""

    name: str

    async def send(self, email: OutgoingEmail) -> str:
        """Send one email; return the ESP's message id."""
        ...

    async def aclose(self) -> None:
        """Release connections (the worker calls it on shutdown)."""
        ...
