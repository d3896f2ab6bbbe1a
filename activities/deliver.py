"""The delivery activity: one journey step's email, sent at most once.

Order of work, and why:
1. Load the customer (fresh: an address changed yesterday is used today).
2. Look up the ledger row for the step's idempotency key. A finished row means a
   retried activity or replayed workflow: answer from the ledger, send nothing.
3. Render; a broken or unknown template fails the step for good (non-retryable).
4. Write the ledger row as ``sending`` and commit *before* talking to the ESP.
5. Send, then record ``sent`` and the ESP's message id.

A row still ``sending`` when an attempt starts means an earlier attempt died between
steps 4 and 5: the email may be out, so it is marked ``unknown`` and never sent again.
An ESP error we did see (connection refused, 4xx) marks it ``retrying``, and the
retry sends.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import DELIVER, DeliverInput, DeliverResult
from activities.esp.base import EmailSender, OutgoingEmail, PermanentSendError, TransientSendError
from activities.render import TemplateError, TemplateRenderer
from core.customer_store import get_customer
from core.customers import Customer
from core.database import Database
from core.tables import MessageRow, utcnow

log = logging.getLogger("journeys.deliver")

FINAL = {"sent", "skipped", "failed", "unknown"}


class DeliveryActivities:
    def __init__(self, db: Database, renderer: TemplateRenderer, sender: EmailSender, from_email: str) -> None:
        self.db = db
        self.renderer = renderer
        self.sender = sender
        self.from_email = from_email

    @activity.defn(name=DELIVER)
    async def deliver(self, input: DeliverInput) -> DeliverResult:
        async with self.db.session() as session:
            customer = await get_customer(session, input.customer_id)
            row = await self._ledger_row(session, input.idempotency_key)
            if row is not None and row.status in FINAL:
                return _result(row, customer)
            if row is not None and row.status == "sending":
                return await self._finish(
                    session, row, customer, "unknown", "an earlier attempt stopped mid-send; not sent again"
                )

            if customer is None or not customer.email:
                reason = "unknown customer" if customer is None else "customer has no email address"
                row = row or self._new_row(input, None)
                return await self._finish(session, row, customer, "skipped", reason)

            try:
                rendered = self.renderer.render(
                    input.template, {**input.context, "customer": customer.model_dump(mode="json")}
                )
            except TemplateError as exc:
                row = row or self._new_row(input, customer.email)
                await self._finish(session, row, customer, "failed", str(exc))
                raise ApplicationError(str(exc), type="TemplateError", non_retryable=True) from exc

            row = row or self._new_row(input, customer.email)
            row.to_email, row.subject = customer.email, rendered.subject
            row.status, row.attempts, row.updated_at = "sending", row.attempts + 1, utcnow()
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                # Another attempt of the same step got there first: let it finish.
                raise ApplicationError("same step is being sent by a concurrent attempt", type="InFlight")

            email = OutgoingEmail(
                message_id=row.id,
                to=customer.email,
                from_=self.from_email,
                subject=rendered.subject,
                html=rendered.html,
                text=rendered.text,
                metadata={
                    "customer_id": input.customer_id,
                    "template": input.template,
                    "journey": input.journey or "",
                    "step": input.step or "",
                },
            )
            try:
                esp_message_id = await self.sender.send(email)
            except PermanentSendError as exc:
                log.warning("message %s to %s refused by %s: %s", row.id, customer.email, self.sender.name, exc)
                return await self._finish(session, row, customer, "failed", str(exc))
            except TransientSendError as exc:
                row.status, row.reason, row.updated_at = "retrying", str(exc), utcnow()
                session.add(row)
                await session.commit()
                raise
            row.esp, row.esp_message_id, row.sent_at = self.sender.name, esp_message_id, utcnow()
            log.info("sent %s to %s (%s, %s)", input.template, customer.email, row.id, input.idempotency_key)
            return await self._finish(session, row, customer, "sent", None)

    async def _ledger_row(self, session, key: str) -> MessageRow | None:  # type: ignore[no-untyped-def]
        result = await session.exec(select(MessageRow).where(MessageRow.idempotency_key == key))
        return result.first()

    def _new_row(self, input: DeliverInput, to_email: str | None) -> MessageRow:
        now = utcnow()
        return MessageRow(
            id=uuid.uuid4().hex,
            idempotency_key=input.idempotency_key,
            customer_id=input.customer_id,
            journey=input.journey,
            step=input.step,
            template=input.template,
            to_email=to_email,
            status="new",
            created_at=now,
            updated_at=now,
        )

    async def _finish(self, session, row: MessageRow, customer: Customer | None, status: str, reason: str | None) -> DeliverResult:  # type: ignore[no-untyped-def]
        row.status, row.reason, row.updated_at = status, reason, utcnow()
        session.add(row)
        await session.commit()
        return _result(row, customer)


def _result(row: MessageRow, customer: Customer | None) -> DeliverResult:
    return DeliverResult(
        message_id=row.id,
        status=row.status,  # type: ignore[arg-type]
        reason=row.reason,
        esp_message_id=row.esp_message_id,
        customer=customer,
    )


