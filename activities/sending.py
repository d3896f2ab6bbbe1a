"""One claimed message handed to the ESP, and what became of it recorded: sent, unknown,
failed, retrying or cancelled. At most once is decided here (activities/deliver.py has
the whole story):

* before calling anyone, the attempt checks it is still within its bounds: a retry can
  come long after the first try (a Retry-After, a worker away), and a message pinned to
  an ESP that drops repeats is only safe to repeat within that ESP's window;
* a failure after the request may have reached the ESP is ``unknown``, unless the ESP
  drops repeats (then the retry goes to it alone); once a message may be out, every later
  give-up or refusal is ``unknown`` too, never ``failed`` (an operator resends ``failed``);
* once the ESP has the message, the attempt runs to its recorded outcome even if it is
  cancelled meanwhile; cancelled before that, it is ``cancelled`` when the journey ended
  and ``retrying`` when the worker is stopping;
* retries are bounded by calls to the ESP (``JOURNEYS_SEND_MAX_ATTEMPTS``; waiting for a
  rate-limit slot is no call) and by time since the first (``JOURNEYS_SEND_MAX_RETRY_SECONDS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.ledger import Ledger
from journeys.consent.suppressions import suppress
from journeys.contracts.activity_io import DeliverResult
from journeys.contracts.customers import Customer
from journeys.providers.base import OutgoingEmail, PermanentSendError, TransientSendError
from journeys.providers.failover import FailoverSender
from journeys.storage.database import Database
from journeys.storage.tables import MessageRow, utcnow
from journeys.telemetry import log_context, metrics

log = logging.getLogger("journeys.deliver")

# The database may restart while a send is out: its outcome is recorded for about 30 s more.
DB_AWAY = (OperationalError, InterfaceError, PoolTimeout)
RECORD_RETRY_PAUSES = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
MAYBE_OUT = "may have been sent; not sent again: an operator decides (see dead letters)"


@dataclass
class Bounds:
    max_attempts: int
    max_retry_seconds: float


@dataclass
class SendAttempt:
    db: Database
    sender: FailoverSender
    rates: Callable[[str], Awaitable[None]] | None
    bounds: Bounds
    ledger: Ledger
    row: MessageRow
    outgoing: OutgoingEmail
    customer: Customer
    reached: list[str] = field(default_factory=list)  # the ESPs this attempt has called

    @property
    def first_try(self) -> datetime:
        return self.row.claimed_at or self.ledger.now

    @property
    def maybe_out(self) -> bool:
        """An earlier attempt may have reached the ESP the message is pinned to."""
        return self.row.esp is not None

    async def run(self) -> DeliverResult:
        with log_context.bound(message_id=self.row.id):  # the claimed row's: what the message log shows
            return await self._run()

    async def _run(self) -> DeliverResult:
        late = self._past_bounds()
        if late is not None:
            return await self._give_up(late)
        calling = asyncio.ensure_future(self._call())
        try:
            return await asyncio.shield(calling)
        except asyncio.CancelledError:
            if self.reached:  # the ESP has it: its answer decides the ledger, cancelled or not
                with contextlib.suppress(Exception):
                    await calling
            else:
                calling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await calling
            raise

    def _past_bounds(self) -> str | None:
        spent = self.ledger.now - self.first_try
        if self.row.esp_calls and spent.total_seconds() >= self.bounds.max_retry_seconds:
            return f"no retry after {_span(spent)} (JOURNEYS_SEND_MAX_RETRY_SECONDS)"
        window = self.sender.dedupe_window(self.row.esp) if self.maybe_out else None
        if self.maybe_out and window is not None and spent.total_seconds() >= window:
            return f"{self.row.esp} drops a repeat only within {_span(timedelta(seconds=window))}; {_span(spent)} have passed"
        return None

    async def _call(self) -> DeliverResult:
        async def before(esp: str) -> None:
            if self.rates is not None:
                await self.rates(esp)
            self.reached.append(esp)

        try:
            # A retry after a send that may have reached an ESP goes to that ESP only.
            esp, esp_message_id = await self.sender.send_via(self.outgoing, only=self.row.esp, before=before)
        except asyncio.CancelledError:  # before any ESP had it
            details = activity.cancellation_details() if activity.in_activity() else None
            if details is not None and details.cancel_requested and not details.worker_shutdown:
                await self.finish("cancelled", "the journey ended before the send went out")
            else:
                await self.finish("retrying", "stopped before sending (worker shutdown)")
            raise
        except PermanentSendError as exc:
            return await self._refused(exc)
        except TransientSendError as exc:
            return await self._not_sent_yet(exc)
        await self.finish("sent", esp=esp, esp_message_id=esp_message_id or None, sent_at=utcnow())
        log.info("sent %s to customer %s (message %s, %s)", self.outgoing.metadata["template"], self.customer.id, self.row.id, self.ledger.input.idempotency_key)
        return self._result("sent", esp_message_id=esp_message_id)

    async def _refused(self, exc: PermanentSendError) -> DeliverResult:
        esp = exc.esp or "unknown ESP"
        if self.maybe_out:  # an earlier attempt may have got through; this refusal proves nothing
            return await self._give_up(f"refused by {esp} on a retry: {exc}")
        reason = f"refused by {esp}: {exc}"
        if exc.hard_bounce:
            await suppress(self.db, self.ledger.session, self.outgoing.to, "hard_bounce", source=esp)
            reason += " (address suppressed: hard bounce)"
        log.warning("message %s of customer %s: %s", self.row.id, self.customer.id, reason)
        await self.finish("failed", reason, esp=esp)
        return self._result("failed", reason=reason)

    async def _not_sent_yet(self, exc: TransientSendError) -> DeliverResult:
        """A failure worth retrying: retry it, unless it may be out already or retries are spent."""
        esp = self.row.esp or exc.esp
        if exc.maybe_sent and not (esp and self.sender.dedupe_window(esp)):
            reason = f"{exc} ({MAYBE_OUT})"
            log.error("message %s of customer %s: %s", self.row.id, self.customer.id, reason)
            await self.finish("unknown", reason, esp=esp)
            return self._result("unknown", reason=reason)
        # Once an attempt may have reached an ESP (one that drops repeats), the rest go there.
        pinned = self.row.esp or (exc.esp if exc.maybe_sent else None)
        calls = self.row.esp_calls + len(self.reached)
        spent = self.ledger.now - self.first_try
        remaining = self.bounds.max_retry_seconds - spent.total_seconds()
        if calls >= self.bounds.max_attempts or remaining <= 0:
            return await self._give_up(f"gave up after {calls} attempts over {_span(spent)}: {exc}", esp=pinned)
        await self.finish("retrying", str(exc), esp=pinned, esp_calls=calls)
        if exc.retry_after is not None:
            # The ESP said when to come back (Retry-After): Temporal retries then, within the bound.
            delay = timedelta(seconds=min(exc.retry_after, remaining))
            raise ApplicationError(str(exc), type="TransientSendError", next_retry_delay=delay) from exc
        raise exc

    async def _give_up(self, why: str, esp: str | None = None) -> DeliverResult:
        """Out of bounds: ``failed`` if nothing can have gone out, else ``unknown``."""
        maybe = self.maybe_out or esp is not None
        status = "unknown" if maybe else "failed"
        reason = f"{why} ({MAYBE_OUT})" if maybe else why
        log.error("message %s of customer %s %s: %s", self.row.id, self.customer.id, status, reason)
        await self.finish(status, reason, esp=self.row.esp or esp, esp_calls=self.row.esp_calls + len(self.reached))
        return self._result(status, reason=reason)

    def _result(self, status: str, **values: Any) -> DeliverResult:
        return DeliverResult(message_id=self.row.id, status=status, customer=self.customer, **values)  # type: ignore[arg-type]

    async def finish(self, status: str, reason: str | None = None, **values: Any) -> None:
        """Record what the ESP call came to. The database being away for a moment (a restart)
        must not lose it: a lost "sent" would turn into "unknown" on the retry."""
        values.setdefault("esp_calls", self.row.esp_calls + len(self.reached))
        # What the ESP call came to, counted whether or not recording it goes smoothly.
        esp = values.get("esp") or self.row.esp or "none"
        metrics.SENDS.labels(esp=esp, journey=self.ledger.input.journey or "none", status=status).inc()
        try:
            await self.ledger.finish(self.row, status, reason, **values)
            return
        except DB_AWAY as exc:
            error = exc
        for pause in RECORD_RETRY_PAUSES:
            log.warning("message %s: recording %s failed (%s); trying again in %.1f s", self.row.id, status, error, pause)
            await asyncio.sleep(pause)
            try:
                async with self.db.session() as session:
                    current = await session.get(MessageRow, self.row.id)
                    if current is not None and current.status == status:  # it was recorded; the answer was lost
                        return
                    await Ledger(self.db, session, self.ledger.input, self.ledger.now).finish(self.row, status, reason, **values)
                return
            except DB_AWAY as exc:
                error = exc
        raise error


def _span(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    if seconds >= 7200:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
