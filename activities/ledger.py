"""The send ledger (the ``messages`` table) for one delivery: claim, decide, finish.

One row per journey step, keyed by the step's idempotency key. Every change of status is
also appended to the row's ``history``, so the message log can say "deferred for quiet
hours at 22:10, sent at 08:00".
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.contracts.activity_io import DeliverInput, DeliverResult
from journeys.contracts.customers import Customer
from journeys.storage.database import Database
from journeys.storage.tables import MessageRow, utcnow
from journeys.templating.catalog import TemplateInfo

FINAL = {"sent", "skipped", "failed", "unknown", "suppressed", "unsubscribed", "capped", "cancelled"}


def entry(at: datetime, status: str, reason: str | None = None) -> dict[str, Any]:
    return {"at": at.isoformat(timespec="seconds"), "status": status, "reason": reason}


class Ledger:
    """The ledger as one delivery attempt sees it: its session, its step, its clock."""

    def __init__(self, db: Database, session: AsyncSession, input: DeliverInput, now: datetime) -> None:
        self.db, self.session, self.input, self.now = db, session, input, now

    async def row(self) -> MessageRow | None:
        result = await self.session.exec(select(MessageRow).where(MessageRow.idempotency_key == self.input.idempotency_key))
        return result.first()

    def new_row(self, to_email: str | None, info: TemplateInfo | None) -> MessageRow:
        now = utcnow()
        return MessageRow(
            id=uuid.uuid4().hex,
            idempotency_key=self.input.idempotency_key,
            customer_id=self.input.customer_id,
            journey=self.input.journey,
            step=self.input.step,
            template=self.input.template,
            category=info.category if info else None,
            topic=info.topic if info else None,
            to_email=to_email,
            status="new",
            history=[],
            created_at=now,
            updated_at=now,
        )

    async def decide(
        self,
        customer: Customer | None,
        status: str,
        reason: str,
        *,
        info: TemplateInfo | None = None,
        until: datetime | None = None,
    ) -> DeliverResult:
        """Record a decision taken without sending (skipped, failed, suppressed, deferred, ...).

        A final row stays as it is (a retry or replay must not rewrite history); a row
        still ``sending`` means an earlier attempt may have sent: it becomes ``unknown``.
        Commits.
        """
        row = await self.row()
        if row is not None and row.status in FINAL:
            await self.session.commit()
            return result_of(row, customer)
        if row is not None and row.status == "sending":
            status, reason, until = "unknown", "an earlier attempt stopped mid-send; not sent again", None
        row = row or self.new_row(customer.email if customer else None, info)
        if status == "deferred" and row.status == "deferred" and row.deferred_until == until:
            await self.session.commit()  # the same deferral again (a retried attempt): logged once
            return result_of(row, customer)
        row.status, row.reason, row.deferred_until, row.updated_at = status, reason, until, utcnow()
        row.history = [*row.history, entry(self.now, status, reason)]
        self.session.add(row)
        await self.session.commit()
        return result_of(row, customer)

    async def claim(self, to_email: str, subject: str, info: TemplateInfo) -> MessageRow | None:
        """Mark the step ``sending`` (policy passed: it counts toward caps from now) and commit
        before anyone talks to the ESP. None if the row says not to send (already decided)."""
        row = self.new_row(to_email, info)
        row.subject, row.status, row.attempts, row.claimed_at = subject, "sending", 1, self.now
        row.history = [entry(self.now, "sending")]
        statement = (
            self.db.insert(MessageRow)
            .values(row.model_dump())
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(col(MessageRow.id))
        )
        claimed = (await self.session.exec(statement)).first()  # type: ignore[call-overload]
        if claimed:
            await self.session.commit()
            return row
        existing = await self.row()
        assert existing is not None
        if existing.status in FINAL or existing.status == "sending":
            return None
        # deferred, or retrying after an ESP error we saw: this attempt sends.
        existing.to_email, existing.subject, existing.category, existing.topic = to_email, subject, info.category, info.topic
        existing.status, existing.reason, existing.deferred_until = "sending", None, None
        existing.attempts += 1
        existing.claimed_at = existing.claimed_at or self.now  # a retry keeps its first slot
        existing.updated_at = utcnow()
        existing.history = [*existing.history, entry(self.now, "sending")]
        self.session.add(existing)
        await self.session.commit()
        return existing

    async def finish(self, row: MessageRow, status: str, reason: str | None = None, **values: Any) -> None:
        """After the ESP answered: one UPDATE (the row is ours while it is ``sending``)."""
        history = [*row.history, entry(max(self.now, utcnow()), status, reason)]
        statement = (
            update(MessageRow)
            .where(col(MessageRow.id) == row.id)
            .values(status=status, reason=reason, history=history, updated_at=utcnow(), **values)
        )
        await self.session.exec(statement)  # type: ignore[call-overload]
        await self.session.commit()
        # Kept in step without marking the row dirty (which would cost a second UPDATE).
        set_committed_value(row, "history", history)
        for name, value in {"status": status, "reason": reason, **values}.items():
            set_committed_value(row, name, value)


def result_of(row: MessageRow, customer: Customer | None) -> DeliverResult:
    return DeliverResult(
        message_id=row.id,
        status=row.status,  # type: ignore[arg-type]
        reason=row.reason,
        esp_message_id=row.esp_message_id,
        until=row.deferred_until if row.status == "deferred" else None,
        customer=customer,
    )
