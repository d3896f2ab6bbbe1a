"""The delivery activity: one journey step's email, through the send policy, sent at most once.

Order of work, and why:
1. Load the customer (fresh: an address changed yesterday is used today); no address,
   no send: the step is logged as ``skipped`` with the reason.
2. Look up what the template is (transactional, or marketing about a topic); an unknown
   or undeclared template fails the step for good (non-retryable).
3. The send policy (journeys/consent/policy.py): suppression, subscription, quiet hours. A
   "no" is logged with its reason; quiet hours answer ``deferred`` with a time, and the
   journey sleeps on a durable timer until then and calls again.
4. Render; marketing gets the unsubscribe headers and footer.
5. Claim the step in the ledger: one INSERT of a ``sending`` row keyed by the step's
   idempotency key, committed *before* talking to the ESP. Marketing claims under a lock
   on the customer, after counting the frequency cap in the same transaction. If the key
   exists, an earlier attempt or a replay got here first: a finished row is answered from
   the ledger and nothing is sent.
6. Send, then record ``sent`` and the ESP's message id.

At most once, for every ESP:

* A row still ``sending`` when an attempt starts means an earlier attempt died between
  steps 5 and 6: the email may be out, so it is marked ``unknown`` and never sent again.
* A failure after the request may have reached the ESP (a timeout waiting for its answer,
  the connection lost after DATA, a gateway's 502/504) is ``unknown`` too, and the journey
  carries on; an operator decides (a dead letter). Only an ESP that drops a repeated send
  itself (Resend, by our message id as its Idempotency-Key) is asked again, and only it.
* A failure that proves nothing went out (refused connection, 429, 503) marks the row
  ``retrying`` and Temporal retries, up to ``JOURNEYS_SEND_MAX_ATTEMPTS`` calls to the ESP
  or ``JOURNEYS_SEND_MAX_RETRY_SECONDS`` after the first; then it is ``failed``, with the
  last reason, and the journey carries on. A refusal for an address that does not exist
  (a hard bounce) fails at once and suppresses the address.

The policy's clock is Temporal's (the attempt's scheduled time), so time-skipping tests
see a day pass for caps and quiet hours exactly as production does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from journeys.contracts.activity_io import CANCEL_DEFERRED, DELIVER, CancelDeferredInput, DeliverInput, DeliverResult
from journeys.providers.base import EmailSender, OutgoingEmail, PermanentSendError, TransientSendError
from journeys.providers.failover import as_chain
from journeys.providers.rate_limit import EspRateLimiter
from activities.ledger import Ledger, entry
from journeys.consent.policy import Decision, SendPolicy
from journeys.templating.renderer import RenderedEmail, TemplateError, TemplateRenderer
from journeys.consent.unsubscribe_footer import MarketingFooter
from journeys.customers.profiles import get_customer
from journeys.contracts.customers import Customer
from journeys.storage.database import Database
from journeys.customers.identity import resolve
from journeys.storage.settings import Settings
from journeys.consent.suppressions import suppress
from journeys.storage.tables import MessageRow, utcnow
from journeys.templating.catalog import TemplateCatalog, TemplateInfo

log = logging.getLogger("journeys.deliver")

# The database may restart while a send is out: its outcome is recorded for about 30 s more.
DB_AWAY = (OperationalError, InterfaceError, PoolTimeout)
RECORD_RETRY_PAUSES = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
# Liveness while a send takes long (a slow ESP, a rate-limit slot): Temporal notices a
# dead worker within the activity's heartbeat timeout (workflows/activity_calls.py)
# instead of its 60 s start-to-close timeout. Fast sends never heartbeat.
HEARTBEAT_AFTER, HEARTBEAT_EVERY = 1.0, 2.0


@contextlib.asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    async def beat() -> None:
        await asyncio.sleep(HEARTBEAT_AFTER)
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY)

    beating = asyncio.create_task(beat())
    try:
        yield
    finally:
        beating.cancel()


class DeliveryActivities:
    def __init__(self, db: Database, sender: EmailSender, settings: Settings) -> None:
        self.db = db
        self.sender = as_chain(sender)
        self.from_email = settings.from_email
        self.catalog = TemplateCatalog(settings.templates_dir)
        self.renderer = TemplateRenderer(settings.templates_dir)
        self.policy = SendPolicy.from_settings(settings)
        self.footer = MarketingFooter(settings, self.renderer)
        limits = settings.esp_rate_limits
        self.rates = EspRateLimiter(db, limits).wait_turn if limits else None
        self.max_attempts = settings.send_max_attempts
        self.max_retry_seconds = settings.send_max_retry_seconds

    @activity.defn(name=DELIVER)
    async def deliver(self, input: DeliverInput) -> DeliverResult:
        async with heartbeating():
            return await self._deliver(input)

    async def _deliver(self, input: DeliverInput) -> DeliverResult:
        now = policy_clock()
        async with self.db.session() as session:
            customer = await get_customer(session, input.customer_id)
            if customer is None:
                # An anonymous id merged into a known customer (journeys/customers/identity.py) whose journey
                # has not heard of it yet: the send is theirs.
                known = (await resolve(session, [input.customer_id])).get(input.customer_id)
                if known is not None:
                    input = input.model_copy(update={"customer_id": known})
                    customer = await get_customer(session, known)
            ledger = Ledger(self.db, session, input, now)
            if customer is None or not customer.email:
                reason = "unknown customer" if customer is None else "customer has no email address"
                return await ledger.decide(customer, "skipped", reason)
            try:
                info = self.catalog.get(input.template)
            except TemplateError as exc:
                await ledger.decide(customer, "failed", str(exc))
                raise ApplicationError(str(exc), type="TemplateError", non_retryable=True) from exc

            decision = await self.policy.check(session, customer, info, now)
            if decision is not None:
                return await self._decided(ledger, customer, info, decision)
            try:
                email, headers = self._compose(input, customer, info)
            except TemplateError as exc:
                await ledger.decide(customer, "failed", str(exc), info=info)
                raise ApplicationError(str(exc), type="TemplateError", non_retryable=True) from exc

            if info.is_marketing and self.policy.caps:
                # One transaction from here to the claim, holding the customer's lock: the
                # cap is counted and the slot taken together.
                await session.commit()
                await self.policy.lock_customer(self.db, session, customer.id)
                existing = await ledger.row()
                if existing is None or existing.status == "deferred":  # not yet counted
                    capped = await self.policy.check_cap(session, customer.id, now, input.if_capped)
                    if capped is not None:
                        return await self._decided(ledger, customer, info, capped)
            row = await ledger.claim(customer.email, email.subject, info)
            if row is None:  # decided before (a retry or replay), or an attempt died mid-send
                return await ledger.decide(customer, "unknown", "an earlier attempt stopped mid-send; not sent again")

            outgoing = OutgoingEmail(
                message_id=row.id,
                to=customer.email,
                from_=self.from_email,
                subject=email.subject,
                html=email.html,
                text=email.text,
                headers=headers,
                metadata={
                    "category": info.category,
                    "customer_id": input.customer_id,
                    "template": input.template,
                    "journey": input.journey or "",
                    "step": input.step or "",
                },
            )
            return await self._send(ledger, row, outgoing, customer)

    @activity.defn(name=CANCEL_DEFERRED)
    async def cancel_deferred(self, input: CancelDeferredInput) -> None:
        """The journey ended while this send waited: log it as cancelled (if it still waits)."""
        async with self.db.session() as session:
            row = (await session.exec(select(MessageRow).where(MessageRow.idempotency_key == input.idempotency_key))).first()
            if row is None or row.status != "deferred":
                return
            row.status, row.reason, row.deferred_until, row.updated_at = "cancelled", input.reason, None, utcnow()
            row.history = [*row.history, entry(policy_clock(), "cancelled", input.reason)]
            session.add(row)
            await session.commit()

    async def _send(self, ledger: Ledger, row: MessageRow, outgoing: OutgoingEmail, customer: Customer) -> DeliverResult:
        """Hand the claimed message to the ESP and record what became of it."""
        reached: list[str] = []  # the ESPs this attempt got as far as calling

        async def before(esp: str) -> None:
            if self.rates is not None:
                await self.rates(esp)
            reached.append(esp)

        try:
            # A retry after a send that may have reached an ESP goes to that ESP only.
            esp, esp_message_id = await self.sender.send_via(outgoing, only=row.esp, before=before)
        except asyncio.CancelledError:
            if not reached:  # stopped while waiting for a send slot: nothing left here
                await asyncio.shield(self._finish(ledger, row, "retrying", "stopped before sending (worker shutdown)"))
            else:  # cancelled while the ESP had it (the journey ended): it may be out
                await asyncio.shield(
                    self._finish(ledger, row, "unknown", "cancelled while the ESP was being called; it may have been sent")
                )
            raise
        except PermanentSendError as exc:
            esp = exc.esp or "unknown ESP"
            reason = f"refused by {esp}: {exc}"
            if exc.hard_bounce:
                await suppress(self.db, ledger.session, outgoing.to, "hard_bounce", source=esp)
                reason += " (address suppressed: hard bounce)"
            log.warning("message %s of customer %s: %s", row.id, customer.id, reason)
            await self._finish(ledger, row, "failed", reason, esp=esp)
            return DeliverResult(message_id=row.id, status="failed", reason=reason, customer=customer)
        except TransientSendError as exc:
            return await self._not_sent_yet(ledger, row, exc, customer)
        await self._finish(ledger, row, "sent", esp=esp, esp_message_id=esp_message_id or None, sent_at=utcnow())
        log.info("sent %s to customer %s (message %s, %s)", outgoing.metadata["template"], customer.id, row.id, ledger.input.idempotency_key)
        return DeliverResult(message_id=row.id, status="sent", esp_message_id=esp_message_id, customer=customer)

    async def _not_sent_yet(self, ledger: Ledger, row: MessageRow, exc: TransientSendError, customer: Customer) -> DeliverResult:
        """A failure worth retrying: retry it, unless it may be out already or retries are spent."""
        esp = row.esp or exc.esp
        if exc.maybe_sent and not (esp and self.sender.drops_duplicates(esp)):
            reason = f"{exc} (may have been sent; not sent again: an operator decides, see dead letters)"
            log.error("message %s of customer %s: %s", row.id, customer.id, reason)
            await self._finish(ledger, row, "unknown", reason, esp=esp)
            return DeliverResult(message_id=row.id, status="unknown", reason=reason, customer=customer)
        # Once an attempt may have reached an ESP (one that drops repeats), the rest go there.
        pinned = row.esp or (exc.esp if exc.maybe_sent else None)
        first = row.claimed_at or ledger.now
        spent = (ledger.now - first).total_seconds() >= self.max_retry_seconds
        if row.attempts >= self.max_attempts or spent:
            reason = f"gave up after {row.attempts} attempts over {_span(ledger.now - first)}: {exc}"
            log.error("message %s of customer %s failed: %s", row.id, customer.id, reason)
            await self._finish(ledger, row, "failed", reason, esp=pinned)
            return DeliverResult(message_id=row.id, status="failed", reason=reason, customer=customer)
        await self._finish(ledger, row, "retrying", str(exc), esp=pinned)
        if exc.retry_after is not None:
            # The ESP said when to come back (Retry-After): Temporal retries then.
            raise ApplicationError(
                str(exc), type="TransientSendError", next_retry_delay=timedelta(seconds=exc.retry_after)
            ) from exc
        raise exc

    async def _finish(self, ledger: Ledger, row: MessageRow, status: str, reason: str | None = None, **values: Any) -> None:
        """Record what the ESP call came to. The database being away for a moment (a restart)
        must not lose it: a lost "sent" would turn into "unknown" on the retry."""
        try:
            await ledger.finish(row, status, reason, **values)
            return
        except DB_AWAY as exc:
            error = exc
        for pause in RECORD_RETRY_PAUSES:
            log.warning("message %s: recording %s failed (%s); trying again in %.1f s", row.id, status, error, pause)
            await asyncio.sleep(pause)
            try:
                async with self.db.session() as session:
                    await Ledger(self.db, session, ledger.input, ledger.now).finish(row, status, reason, **values)
                return
            except DB_AWAY as exc:
                error = exc
        raise error

    async def _decided(self, ledger: Ledger, customer: Customer, info: TemplateInfo, decision: Decision) -> DeliverResult:
        result = await ledger.decide(customer, decision.status, decision.reason, info=info, until=decision.until)
        if result.status == "deferred":
            result.deferred_for = decision.deferred_for
        log.info("%s for %s: %s (%s)", result.status, customer.id, result.reason, ledger.input.idempotency_key)
        return result

    def _compose(self, input: DeliverInput, customer: Customer, info: TemplateInfo) -> tuple[RenderedEmail, dict[str, str]]:
        """The rendered email and its extra headers (marketing: unsubscribe link and footer)."""
        context = {**input.context, "customer": customer.model_dump(mode="json")}
        if not info.is_marketing:
            return self.renderer.render(input.template, context), {}
        assert info.topic
        link = self.footer.link(customer.id, info.topic)
        rendered = self.renderer.render(input.template, {**context, **self.footer.context(link)})
        return self.footer.apply(rendered, link, info.topic, input.template), link.headers


def _span(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def policy_clock() -> datetime:
    """Temporal's time for this attempt (skipped ahead in tests), never behind the wall clock."""
    return max(activity.info().current_attempt_scheduled_time, utcnow())

