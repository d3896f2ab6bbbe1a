"""A customer's story, in time order: "why did they get this email (or not)?" in one call.

Everything Journeys recorded about the customer (and every id merged into them): the
events, each journey entry and how it ended, the A/B variant drawn, every step of every
send with the policy's reason (deferred for quiet hours, suppressed, capped, sent), what
the ESP and our own tracking reported afterwards (machines named), goals reached. Each
item carries its ids (event id, workflow id, message id) to look further, in the
Temporal UI or the message log. Journeys still running add where they wait now, from
Temporal, when it answers.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlmodel import col, select
from temporalio.client import Client
from temporalio.service import RPCError

from journeys.contracts.journey_spec import JourneyRoutes
from journeys.customers.identity import aliases_of, resolve
from journeys.operations.journey_control import journeys_of
from journeys.storage.analytics_tables import JourneyRunRow, MessageEventRow
from journeys.storage.database import Database
from journeys.storage.tables import ConversionRow, EventRow, MessageRow, SplitAssignmentRow, utcnow

Kind = Literal["event", "entered", "variant", "send", "email", "goal", "ended", "now"]
# Items at the same instant read in the order things happen.
_ORDER = {"event": 0, "entered": 1, "variant": 2, "send": 3, "email": 4, "goal": 5, "ended": 6, "now": 7}
MAX_ITEMS = 5000
NOW_TIMEOUT_SECONDS = 3.0


class TimelineItem(BaseModel):
    at: datetime
    kind: Kind
    summary: str  # one sentence a support agent can read out
    journey: str | None = None
    step: str | None = None
    status: str | None = None
    reason: str | None = None
    event_id: str | None = None
    workflow_id: str | None = None
    message_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class Timeline(BaseModel):
    customer_id: str
    ids: list[str]  # the customer's id and the ids merged into it
    items: list[TimelineItem]
    truncated: bool = False  # more than ``limit`` items: the latest ones are shown


async def timeline(
    db: Database, client: Client | None, routes: JourneyRoutes, customer_id: str, limit: int = 1000
) -> Timeline:
    async with db.report_session() as session:
        # An id merged away tells the story of the customer it now belongs to.
        customer_id = (await resolve(session, [customer_id])).get(customer_id, customer_id)
        ids = [customer_id, *await aliases_of(session, customer_id)]

        async def latest(table: Any, at: Any) -> list[Any]:
            # The newest limit + 1 of each kind: one more than is shown tells that some are left out.
            rows = await session.exec(select(table).where(col(table.customer_id).in_(ids)).order_by(col(at).desc()).limit(limit + 1))
            return list(reversed(rows.all()))

        events = await latest(EventRow, EventRow.received_at)
        runs = await latest(JourneyRunRow, JourneyRunRow.entered_at)
        variants = await latest(SplitAssignmentRow, SplitAssignmentRow.assigned_at)
        goals = await latest(ConversionRow, ConversionRow.converted_at)
        messages = await latest(MessageRow, MessageRow.created_at)
        reported = await latest(MessageEventRow, MessageEventRow.occurred_at)
        by_id = {m.id: m for m in messages}
        items = [
            *[_event(r) for r in events],
            *[i for r in runs for i in _run(r)],
            *[_variant(r) for r in variants],
            *[_goal(r) for r in goals],
            *[i for m in messages for i in _send(m)],
            *[_email(r, by_id.get(r.message_id)) for r in reported],
        ]
    if client is not None:
        items += await _now(db, client, routes, customer_id)
    items.sort(key=lambda i: (i.at, _ORDER[i.kind]))
    truncated = len(items) > limit
    return Timeline(customer_id=customer_id, ids=ids, items=items[-limit:], truncated=truncated)


def workflow_of(message: MessageRow) -> str | None:
    """The journey run a send belongs to: its idempotency key is workflow id/entry/step."""
    if not message.journey or message.idempotency_key.count("/") < 2:
        return None
    return message.idempotency_key.rsplit("/", 2)[0]


def _event(row: EventRow) -> TimelineItem:
    return TimelineItem(
        at=row.received_at, kind="event", summary=f"event {row.type} received", event_id=row.id,
        details={"type": row.type, "timestamp": row.timestamp.isoformat(), "properties": row.properties},
    )


def _run(row: JourneyRunRow) -> list[TimelineItem]:
    items = [
        TimelineItem(
            at=row.entered_at, kind="entered", summary=f"entered {row.journey} (trigger {row.entry_id})",
            journey=row.journey, workflow_id=row.workflow_id, event_id=row.entry_id,
        )
    ]
    if row.ended_at is not None:
        how = f"exited on {row.exit_event}" if row.outcome == "exited" else row.outcome or "ended"
        items.append(
            TimelineItem(
                at=row.ended_at, kind="ended", summary=f"{row.journey} {how}", status=row.outcome, reason=row.exit_event,
                journey=row.journey, workflow_id=row.workflow_id, event_id=row.entry_id,
            )
        )
    return items


def _variant(row: SplitAssignmentRow) -> TimelineItem:
    return TimelineItem(
        at=row.assigned_at, kind="variant", summary=f"{row.journey}: split {row.split} drew variant {row.variant}",
        journey=row.journey, event_id=row.entry_id, details={"split": row.split, "variant": row.variant},
    )


def _goal(row: ConversionRow) -> TimelineItem:
    return TimelineItem(
        at=row.converted_at, kind="goal", summary=f"{row.journey}: goal {row.goal} reached", journey=row.journey,
        event_id=row.event_id, details={"goal": row.goal, "entry_id": row.entry_id, "variants": row.variants},
    )


def _send(message: MessageRow) -> list[TimelineItem]:
    """One item per step of the send's history (claimed, deferred, sent, ...)."""
    history = message.history or [{"at": message.created_at.isoformat(), "status": message.status, "reason": message.reason}]
    items = []
    for entry in history:
        status, reason = str(entry.get("status")), entry.get("reason")
        if status.startswith("email."):
            continue  # an ESP's report: told by its own item (message_events)
        what = {"sending": "being sent", "sent": "sent", "deferred": "deferred", "retrying": "retrying"}.get(status, f"not sent: {status}")
        summary = f"{message.template} ({message.step or 'one-off'}) {what}" + (f" - {reason}" if reason else "")
        items.append(
            TimelineItem(
                at=_parse(entry.get("at")) or message.created_at, kind="send", summary=summary, journey=message.journey,
                step=message.step, status=status, reason=reason, message_id=message.id, workflow_id=workflow_of(message),
                details={"template": message.template, "category": message.category, "topic": message.topic, "esp": message.esp},
            )
        )
    return items


def _email(row: MessageEventRow, message: MessageRow | None) -> TimelineItem:
    what = row.type.removeprefix("email.")
    by = f"by a {row.machine} ({row.detail})" if row.machine else f"via {row.source}"
    template = message.template if message else "an email"
    summary = f"{template} {what} {by}" + (f": {row.url}" if row.url else "")
    return TimelineItem(
        at=row.occurred_at, kind="email", summary=summary, journey=message.journey if message else None,
        step=message.step if message else None, status=row.type, reason=row.detail, message_id=row.message_id,
        workflow_id=workflow_of(message) if message else None, event_id=row.id,
        details={"source": row.source, "machine": row.machine, "url": row.url},
    )


async def _now(db: Database, client: Client, routes: JourneyRoutes, customer_id: str) -> list[TimelineItem]:
    """Where the customer's running journeys wait now (best effort: Temporal may be away)."""
    try:
        statuses = await asyncio.wait_for(journeys_of(client, routes, db, customer_id), timeout=NOW_TIMEOUT_SECONDS)
    except (RPCError, RuntimeError, asyncio.TimeoutError):
        return []
    now = utcnow()
    return [
        TimelineItem(
            at=now, kind="now", journey=s.journey, step=s.step, workflow_id=s.workflow_id, status=s.status,
            summary=f"{s.journey}: now at {s.step}" + (f" until {s.until:%Y-%m-%d %H:%M} UTC" if s.until else ""),
            details={"waiting_for": s.waiting_for},
        )
        for s in statuses
        if s.status == "running"
    ]


def _parse(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None
