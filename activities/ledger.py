"""The send ledger (the ``messages`` table) for one delivery: claim, decide, finish.

One row per journey step, keyed by the step's idempotency key. Every change of status is
appended to the row's ``history`` by the database itself (no read-modify-write, so an ESP
webhook arriving meanwhile keeps its entry), so the message log can say "deferred for
quiet hours at 22:10, sent at 08:00".

Every transition is compare-and-set on the status and the attempt count: an attempt that
wakes up late (after Temporal gave up waiting for it and a retry marked the row
``unknown``) can never overwrite ``unknown``, ``sent`` or ``failed``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.analytics.message_facts import count_final
from journeys.analytics.runs import entry_in
from journeys.contracts.activity_io import DeliverInput, DeliverResult
from journeys.contracts.customers import Customer
from journeys.storage.bulk_insert import insert_rows
from journeys.storage.database import Database
from journeys.storage.tables import MessageRow, utcnow
from journeys.templating.catalog import TemplateInfo

log = logging.getLogger("journeys.ledger")
_messages = MessageRow.__table__  # type: ignore[attr-defined]
_MESSAGE_COLUMNS = tuple(column.name for column in _messages.c)

FINAL = {"sent", "skipped", "failed", "unknown", "suppressed", "unsubscribed", "capped", "cancelled"}
MID_SEND = "an earlier attempt stopped mid-send; not sent again"


def entry(at: datetime, status: str, reason: str | None = None) -> dict[str, Any]:
    return {"at": at.isoformat(timespec="milliseconds"), "status": status, "reason": reason}


class Ledger:
    """The ledger as one delivery attempt sees it: its session, its step, its clock."""

    def __init__(self, db: Database, session: AsyncSession, input: DeliverInput, now: datetime) -> None:
        self.db, self.session, self.input, self.now = db, session, input, now
        self._entry_due = input.entered  # the run's entry, when this is its first activity

    async def _commit(self) -> None:
        await self._write_entry()
        await self.session.commit()

    async def _write_entry(self) -> None:
        """The run's entry goes in with the ledger's first commit: one transaction, and the
        write lock (SQLite) taken no earlier than the ledger's own."""
        entered, self._entry_due = self._entry_due, None
        if entered is not None:
            await entry_in(
                self.db, self.session, entered.journey, entered.customer_id, entered.entry_id, entered.workflow_id,
                entered.at or self.now,
            )

    async def row(self) -> MessageRow | None:
        result = await self.session.exec(self.db.prepared(_row_by_key), params={"key": self.input.idempotency_key})
        return result.first()

    async def row_id(self) -> str | None:
        """The step's row's id, if it has one (no row object made: a send asks this first)."""
        result = await self.session.exec(self.db.prepared(_id_by_key), params={"key": self.input.idempotency_key})
        return result.first()  # type: ignore[no-any-return]  # sqlmodel: a one-column select gives scalars

    def new_row(self, to_email: str | None, info: TemplateInfo | None) -> MessageRow:
        now = utcnow()
        return MessageRow(
            id=message_id_for(self.input.idempotency_key),
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
            context=self.input.context,
            if_capped=self.input.if_capped,
            entry_id=self.input.entry_id,
            links=[],  # given, not defaulted: a default factory costs pydantic a signature() per row
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
        if row is None:
            fresh = self.new_row(customer.email if customer else None, info)
            fresh.status, fresh.reason, fresh.deferred_until = status, reason, until
            fresh.history = [entry(self.now, status, reason)]
            if status in FINAL:
                fresh.counted_at = fresh.created_at
            if await self._insert(fresh):
                if status in FINAL:
                    await count_final(self.db, self.session, fresh, status, fresh.created_at, self.input.variants)
                await self._commit()
                return result_of(fresh, customer)
            row = await self.row()  # another attempt wrote it a moment ago
            assert row is not None
        if row.status in FINAL or (status == "deferred" and row.status == "deferred" and row.deferred_until == until):
            await self._commit()  # decided before, or the same deferral again: logged once
            return result_of(row, customer)
        if row.status == "sending":
            status, reason, until = "unknown", MID_SEND, None
        await self._move(row, status, reason, deferred_until=until)
        return result_of(await self._reread(row), customer)

    async def claim(self, to_email: str, subject: str, info: TemplateInfo, links: list[str] | None = None) -> MessageRow | None:
        """Mark the step ``sending`` (policy passed: it counts toward caps from now) and commit
        before anyone talks to the ESP. None if the row says not to send (already decided,
        or another attempt is sending). ``links``: the email's tracked links, in order."""
        row = self.new_row(to_email, info)
        row.subject, row.status, row.attempts, row.claimed_at = subject, "sending", 1, self.now
        row.links = list(links or [])
        row.history = [entry(self.now, "sending")]
        if await self._insert(row):
            await self._commit()
            return row
        existing = await self.row()
        assert existing is not None
        if existing.status in FINAL or existing.status == "sending":
            await self._commit()
            return None
        # deferred, or retrying after an ESP error we saw: this attempt sends.
        moved = await self._move(
            existing,
            "sending",
            None,
            to_email=to_email,
            subject=subject,
            category=info.category,
            topic=info.topic,
            deferred_until=None,
            links=list(links or []),
            attempts=existing.attempts + 1,
            claimed_at=existing.claimed_at or self.now,  # a retry keeps its first slot
        )
        return existing if moved else None

    async def finish(self, row: MessageRow, status: str, reason: str | None = None, **values: Any) -> bool:
        """After the ESP answered. False if the row is no longer this attempt's to finish
        (a later attempt decided it meanwhile): then only a note goes into its history."""
        if await self._move(row, status, reason, **values):
            return True
        late = f"an attempt that had been given up on reported {status}" + (f": {reason}" if reason else "")
        log.warning("message %s: %s; its status stays as a later attempt left it", row.id, late)
        await self.session.exec(  # type: ignore[call-overload]
            update(MessageRow)
            .where(col(MessageRow.id) == row.id)
            .values(history=self.db.json_append(MessageRow.history, entry(max(self.now, utcnow()), "late", late)))
            .execution_options(synchronize_session=False)
        )
        await self._commit()
        return False

    async def _insert(self, row: MessageRow) -> bool:
        values = tuple(getattr(row, name) for name in _MESSAGE_COLUMNS)
        # On the table, not the ORM entity (no ORM bulk-insert machinery, no model dump per send).
        inserted = await insert_rows(
            self.session, _messages, _MESSAGE_COLUMNS, [values], skip_conflicts_on="idempotency_key", returning="id"
        )
        return bool(inserted)

    async def _move(self, row: MessageRow, status: str, reason: str | None, **values: Any) -> bool:
        """Compare-and-set: from the status and attempt count this attempt saw, or not at all."""
        now = max(self.now, utcnow())
        changes = {"status": status, "reason": reason, "updated_at": utcnow(), **values}
        if status in FINAL:
            changes["counted_at"] = now
        params = {f"v_{name}": value for name, value in changes.items()}
        params.update(w_id=row.id, w_status=row.status, w_attempts=row.attempts, v_entry=self.db.json_item(entry(now, status, reason)))
        statement = self.db.prepared(_move_builder(tuple(changes)))
        moved = (await self.session.exec(statement, params=params)).first() is not None  # type: ignore[call-overload]
        if moved and status in FINAL:  # counted once: a final status never changes (compare-and-set)
            await count_final(self.db, self.session, row, status, now, self.input.variants)
        await self._commit()
        if moved:  # kept in step without marking the row dirty (which would cost an UPDATE)
            set_committed_value(row, "history", [*row.history, entry(now, status, reason)])
            for name, value in changes.items():
                set_committed_value(row, name, value)
        return moved

    async def _reread(self, row: MessageRow) -> MessageRow:
        await self.session.refresh(row)
        return row


def _row_by_key(_db: Database) -> Any:
    return select(MessageRow).where(MessageRow.idempotency_key == bindparam("key"))


@functools.cache
def _move_builder(names: tuple[str, ...]) -> Callable[[Database], Any]:
    """The compare-and-set UPDATE setting ``names``, made once per set of names and database
    (a send moves its row twice; building the statement each time cost more than running it).
    On the table: the row object is kept in step by ``_move``, no ORM synchronisation."""

    def build(db: Database) -> Any:
        values = {name: bindparam(f"v_{name}", type_=_messages.c[name].type) for name in names}
        return (
            update(_messages)
            .where(
                _messages.c.id == bindparam("w_id"),
                _messages.c.status == bindparam("w_status"),
                _messages.c.attempts == bindparam("w_attempts"),
            )
            .values(history=db.json_append_param(_messages.c.history, "v_entry"), **values)
            .returning(_messages.c.id)
        )

    return build


def _id_by_key(_db: Database) -> Any:
    return select(_messages.c.id).where(_messages.c.idempotency_key == bindparam("key"))


def message_id_for(idempotency_key: str) -> str:
    """The step's message id, known before its row exists (tracked links name it), and the
    same on every attempt: derived from the step's idempotency key."""
    return hashlib.sha256(idempotency_key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def result_of(row: MessageRow, customer: Customer | None) -> DeliverResult:
    return DeliverResult(
        message_id=row.id,
        status=row.status,  # type: ignore[arg-type]
        reason=row.reason,
        esp_message_id=row.esp_message_id,
        until=row.deferred_until if row.status == "deferred" else None,
        customer=customer,
    )
