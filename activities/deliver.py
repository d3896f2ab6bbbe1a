"""The delivery activity: one journey step's email, through the send policy, sent at most once.

Order of work, and why:
1. Load the customer (fresh: an address changed yesterday is used today); no address,
   no send: the step is logged as ``skipped`` with the reason.
2. Look up what the template is (transactional, or marketing about a topic); an unknown
   or undeclared template fails the step for good (non-retryable).
3. The send policy (journeys/consent/policy.py): suppression, subscription, quiet hours. A
   "no" is logged with its reason; quiet hours answer ``deferred`` with a time, and the
   journey sleeps on a durable timer until then and calls again.
4. Render; marketing gets the unsubscribe headers and footer; links and an open pixel are
   tracked where the template's category or template.toml says so (journeys/tracking/).
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
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from journeys.contracts.activity_io import CANCEL_DEFERRED, DELIVER, TO_QUEUE, CancelDeferredInput, DeliverInput, DeliverResult
from journeys.providers.base import EmailSender, OutgoingEmail
from journeys.providers.failover import as_chain
from journeys.providers.rate_limit import EspRateLimiter
from activities.ledger import Ledger, entry, message_id_for
from activities.sending import Bounds, SendAttempt
from journeys.consent.policy import Decision, SendPolicy
from journeys.templating.renderer import RenderedEmail, TemplateError, TemplateRenderer
from journeys.analytics.message_facts import count_final
from journeys.consent.unsubscribe_footer import MarketingFooter
from journeys.operations.template_preview import compose
from journeys.customers.profiles import get_customer
from journeys.contracts.customers import Customer
from journeys.storage.database import Database
from journeys.customers.identity import resolve
from journeys.storage.settings import Settings
from journeys.storage.tables import MessageRow, utcnow
from journeys.telemetry import log_context, metrics
from journeys.templating.catalog import TemplateCatalog, TemplateInfo
from journeys.tracking.links import Tracker

log = logging.getLogger("journeys.deliver")

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

    if activity.info().is_local:  # a local attempt keeps its workflow task alive instead
        yield
        return

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
        self.tracker = Tracker.from_settings(settings)
        limits = settings.esp_rate_limits
        self.rates = EspRateLimiter(db, limits).wait_turn if limits else None
        self.bounds = Bounds(settings.send_max_attempts, settings.send_max_retry_seconds)
        # Temporal's task-queue rate limit holds activities only: under it, a local first
        # attempt hands the send to the queue before doing anything.
        self.queue_limited = settings.send_rate_limit is not None

    @activity.defn(name=DELIVER)
    async def deliver(self, input: DeliverInput) -> DeliverResult:
        # Every line of this send names its run and its message (the ledger row's id is
        # derived from the step's key, so it is known before the row exists).
        ids = log_context.bound(
            workflow_id=activity.info().workflow_id, message_id=message_id_for(input.idempotency_key), customer_id=input.customer_id
        )
        if self.queue_limited and activity.info().is_local:
            raise ApplicationError(
                "JOURNEYS_SEND_RATE_LIMIT holds sends on the task queue", type=TO_QUEUE, category=ApplicationErrorCategory.BENIGN
            )
        with ids:
            async with heartbeating():
                return await self._deliver(input)

    async def _deliver(self, input: DeliverInput) -> DeliverResult:
        now = policy_clock(input.asked_at)
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
                metrics.POLICY_DECISIONS.labels(reason="skipped").inc()
                return await ledger.decide(customer, "skipped", reason)
            try:
                info = self.catalog.get(input.template)
            except TemplateError as exc:
                await ledger.decide(customer, "failed", str(exc))
                raise ApplicationError(str(exc), type="TemplateError", non_retryable=True) from exc

            decision = await self.policy.check(session, customer, info, now)
            if decision is not None:
                return await self._decided(ledger, customer, info, decision)
            # Tracked links name the message, so its id is needed before they are written:
            # the row's, if an earlier attempt made one, else the id the claim will give it.
            message_id = await ledger.row_id() or message_id_for(input.idempotency_key)
            try:
                with metrics.timed(metrics.RENDER_DURATION):
                    email, headers = self._compose(input, customer, info, message_id)
                # Links rewritten and the pixel added per the template's tracking choice
                # (journeys/tracking/links.py); the text part keeps its links as written.
                email, links = self.tracker.apply(email, message_id, info)
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
            metrics.POLICY_DECISIONS.labels(reason="allowed").inc()  # every check passed
            # The tracked links' URLs, in order: the only places a redirect may go.
            row = await ledger.claim(customer.email, email.subject, info, links=links)
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
            attempt = SendAttempt(self.db, self.sender, self.rates, self.bounds, ledger, row, outgoing, customer)
            return await attempt.run()

    @activity.defn(name=CANCEL_DEFERRED)
    async def cancel_deferred(self, input: CancelDeferredInput) -> None:
        """The journey ended while this send waited: log it as cancelled, if it still waits
        (compare-and-set: a send that went out meanwhile keeps its ``sent``)."""
        now = policy_clock()
        async with self.db.session() as session:
            moved = await session.exec(  # type: ignore[call-overload]
                update(MessageRow)
                .where(col(MessageRow.idempotency_key) == input.idempotency_key, col(MessageRow.status) == "deferred")
                .values(
                    status="cancelled",
                    reason=input.reason,
                    deferred_until=None,
                    updated_at=utcnow(),
                    counted_at=now,
                    history=self.db.json_append(MessageRow.history, entry(now, "cancelled", input.reason)),
                )
                .returning(col(MessageRow.id))
                .execution_options(synchronize_session=False)
            )
            cancelled = moved.scalar_one_or_none()
            if cancelled is not None:  # counted once, in the transaction that moved it
                row = await session.get(MessageRow, cancelled)
                assert row is not None
                await count_final(self.db, session, row, "cancelled", now)
            await session.commit()

    async def _decided(self, ledger: Ledger, customer: Customer, info: TemplateInfo, decision: Decision) -> DeliverResult:
        metrics.POLICY_DECISIONS.labels(reason=decision.status).inc()
        result = await ledger.decide(customer, decision.status, decision.reason, info=info, until=decision.until)
        if result.status == "deferred":
            result.deferred_for = decision.deferred_for
        log.info("%s for %s: %s (%s)", result.status, customer.id, result.reason, ledger.input.idempotency_key)
        return result

    def _compose(
        self, input: DeliverInput, customer: Customer, info: TemplateInfo, message_id: str
    ) -> tuple[RenderedEmail, dict[str, str]]:
        """The rendered email and its extra headers (marketing: unsubscribe link naming the
        message, so an unsubscribe is counted against its send step; footer; List-Id), by
        the one composition previews use too (journeys/operations/template_preview.py)."""
        return compose(
            self.renderer, self.footer, self.from_email, input.template, info, customer.model_dump(mode="json"),
            input.context, message_id,
        )


def policy_clock(asked_at: datetime | None = None) -> datetime:
    """Temporal's time for this attempt (skipped ahead in tests), never behind the wall clock:
    a local attempt's scheduled time is the worker's clock, so it goes by the workflow's time
    when it asked (``asked_at``)."""
    info = activity.info()
    scheduled = asked_at if info.is_local and asked_at is not None else info.current_attempt_scheduled_time
    return max(scheduled, utcnow())

