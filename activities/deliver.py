"""The delivery activity: one journey step's email, sent at most once.

Order of work, and why:
1. Load the customer (fresh: an address changed yesterday is used today); no address,
   no send: the step is logged as ``skipped`` with the reason.
2. Render; a broken or unknown template fails the step for good (non-retryable).
3. Claim the step in the ledger: one INSERT of a ``sending`` row keyed by the step's
   idempotency key, committed *before* talking to the ESP. If the key exists, an
   earlier attempt or a replay got here first: a finished row is answered from the
   ledger and nothing is sent.
4. Send, then record ``sent`` and the ESP's message id.

A row still ``sending`` when an attempt starts means an earlier attempt died between
steps 3 and 4: the email may be out, so it is marked ``unknown`` and never sent again.
An ESP error we did see (connection refused, 4xx) marks it ``retrying``, and the
retry sends.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import update
from sqlmodel import col, select
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
            if customer is None or not customer.email:
                reason = "unknown customer" if customer is None else "customer has no email address"
                return await self._record_outcome(session, input, customer, "skipped", reason)
            try:
                rendered = self.renderer.render(
                    input.template, {**input.context, "customer": customer.model_dump(mode="json")}
                )
            except TemplateError as exc:
                await self._record_outcome(session, input, customer, "failed", str(exc))
                raise ApplicationError(str(exc), type="TemplateError", non_retryable=True) from exc

            # The common case in one statement: claim the step for this attempt. If the key
            # is taken, an earlier attempt (or replay) got here first: see what it left.
            message_id = await self._claim(session, input, customer.email, rendered.subject)
            if message_id is None:
                row = await self._ledger_row(session, input.idempotency_key)
                assert row is not None
                if row.status in FINAL:
                    return _result(row, customer)
                if row.status == "sending":
                    return await self._finish(
                        session, row, customer, "unknown", "an earlier attempt stopped mid-send; not sent again"
                    )
                row.to_email, row.subject = customer.email, rendered.subject
                row.status, row.attempts, row.updated_at = "sending", row.attempts + 1, utcnow()
                session.add(row)
                await session.commit()
                message_id = row.id

            email = OutgoingEmail(
                message_id=message_id,
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
                log.warning("message %s to %s refused by %s: %s", message_id, customer.email, self.sender.name, exc)
                await self._update(session, message_id, status="failed", reason=str(exc))
                return DeliverResult(message_id=message_id, status="failed", reason=str(exc), customer=customer)
            except TransientSendError as exc:
                await self._update(session, message_id, status="retrying", reason=str(exc))
                raise
            now = utcnow()
            await self._update(
                session, message_id, status="sent", esp=self.sender.name, esp_message_id=esp_message_id, sent_at=now
            )
            log.info("sent %s to %s (%s, %s)", input.template, customer.email, message_id, input.idempotency_key)
            return DeliverResult(message_id=message_id, status="sent", esp_message_id=esp_message_id, customer=customer)

    async def _claim(self, session, input: DeliverInput, to_email: str, subject: str) -> str | None:  # type: ignore[no-untyped-def]
        """Insert the ledger row as ``sending``; None if the idempotency key exists already."""
        row = self._new_row(input, to_email)
        row.subject, row.status, row.attempts = subject, "sending", 1
        statement = (
            self.db.insert(MessageRow)
            .values(row.model_dump())
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(col(MessageRow.id))
        )
        claimed = (await session.exec(statement)).first()  # type: ignore[call-overload]
        await session.commit()
        return claimed[0] if claimed else None

    async def _update(self, session, message_id: str, **values: object) -> None:  # type: ignore[no-untyped-def]
        statement = update(MessageRow).where(col(MessageRow.id) == message_id).values(updated_at=utcnow(), **values)
        await session.exec(statement)  # type: ignore[call-overload]
        await session.commit()

    async def _record_outcome(self, session, input: DeliverInput, customer: Customer | None, status: str, reason: str) -> DeliverResult:  # type: ignore[no-untyped-def]
        """A step that ends before sending (skipped, failed): logged once, kept if logged before."""
        row = await self._ledger_row(session, input.idempotency_key)
        if row is not None and row.status in FINAL:
            return _result(row, customer)
        row = row or self._new_row(input, customer.email if customer else None)
        return await self._finish(session, row, customer, status, reason)

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


