"""Failover across an ordered list of ESPs, with a circuit breaker per ESP.

``JOURNEYS_ESP=sendgrid,postmark``: every send goes to SendGrid while it is healthy. After
``failure_threshold`` failures in a row its circuit opens and sends go to Postmark; after
``cooldown`` one send tries SendGrid again (half-open), and a success closes the circuit.

A message is never sent by two ESPs: the next ESP is tried only when the failure proves
the first did not take the message (connection refused, 429, 5xx answered). A failure
that leaves it unknown (a timeout waiting for the answer) is raised as it is, and the
ledger pins the retry to that same ESP (activities/deliver.py, ``only=``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

from journeys.providers.base import EmailSender, OutgoingEmail, PermanentSendError, TransientSendError
from journeys.telemetry import metrics

log = logging.getLogger("journeys.esp.failover")

BeforeSend = Callable[[str], Awaitable[None]]


@dataclass
class CircuitBreaker:
    """Closed (use it), open (skip it until the cooldown is over), half-open (one trial)."""

    failure_threshold: int = 5
    cooldown: float = 30.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = field(default=None)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.cooldown else "open"

    def allow(self) -> bool:
        """May a send go now? Half-open lets one trial through, then waits for its outcome."""
        state = self.state
        if state == "half-open":
            self.opened_at = self.clock()  # the next callers see it open until the trial ends
        return state != "open"

    def succeeded(self) -> None:
        self.failures, self.opened_at = 0, None

    def failed(self) -> None:
        self.failures += 1
        if self.opened_at is not None or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()  # (re)open: the trial failed, or too many in a row


class FailoverSender:
    """Sends through the first healthy ESP of ``senders``; ``send_via`` says which one did."""

    name = "failover"

    def __init__(self, senders: Sequence[EmailSender], *, failure_threshold: int = 5, cooldown: float = 30.0) -> None:
        if not senders:
            raise ValueError("FailoverSender needs at least one ESP")
        self.senders = list(senders)
        self.breakers = {s.name: CircuitBreaker(failure_threshold=failure_threshold, cooldown=cooldown) for s in self.senders}

    async def send(self, email: OutgoingEmail) -> str:
        return (await self.send_via(email))[1]

    def dedupe_window(self, esp: str | None) -> float | None:
        """Seconds within which ``esp`` itself drops a repeated send (so a maybe-sent one may
        be retried there); None if it does not."""
        windows = [getattr(s, "dedupe_window", None) for s in self.senders if s.name == esp]
        return windows[0] if windows else None

    async def send_via(
        self, email: OutgoingEmail, only: str | None = None, before: BeforeSend | None = None
    ) -> tuple[str, str]:
        """(ESP name, ESP message id). ``only``: the ESP an earlier attempt may have reached;
        ``before``: awaited with the ESP's name before each try (its rate limit)."""
        if only is not None:
            pinned = [s for s in self.senders if s.name == only]
            if not pinned:
                raise TransientSendError(
                    f"ESP {only!r} may have sent this message but is no longer configured", maybe_sent=True
                )
            return await self._try(pinned[0], email, before)
        last: TransientSendError | None = None
        for sender in self._candidates():
            try:
                return await self._try(sender, email, before)
            except TransientSendError as exc:
                if exc.maybe_sent:
                    raise  # it may be out: no other ESP may send it
                last = exc
        assert last is not None
        raise last

    def _candidates(self) -> Iterator[EmailSender]:
        """The ESPs a send may try, in order; a circuit is asked only when its turn comes (a
        half-open one hands out its single trial then). All open: try them all anyway."""
        allowed = False
        for sender in self.senders:
            if self.breakers[sender.name].allow():
                allowed = True
                yield sender
        if not allowed:
            yield from self.senders

    async def _try(self, sender: EmailSender, email: OutgoingEmail, before: BeforeSend | None) -> tuple[str, str]:
        breaker = self.breakers[sender.name]
        if before is not None:
            await before(sender.name)
        try:
            with metrics.timed(metrics.ESP_REQUEST_DURATION, esp=sender.name):  # the ESP's own time, answered or not
                esp_id = await sender.send(email)
        except (PermanentSendError, TransientSendError) as exc:
            exc.esp = sender.name
            if isinstance(exc, TransientSendError):
                breaker.failed()
                if breaker.state == "open":
                    log.warning("ESP %s: circuit open after %d failures (%s)", sender.name, breaker.failures, exc)
            raise
        breaker.succeeded()
        return sender.name, esp_id

    async def aclose(self) -> None:
        for sender in self.senders:
            await sender.aclose()


def as_chain(sender: EmailSender) -> FailoverSender:
    """Any sender as a chain (of one, for a single ESP): one way to send, whatever the setup."""
    return sender if isinstance(sender, FailoverSender) else FailoverSender([sender])
