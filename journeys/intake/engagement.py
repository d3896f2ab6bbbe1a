"""An open or a click, from our own tracking (journeys/tracking/hits.py) or an ESP's webhook
(journeys/intake/email_feedback.py): what it becomes is decided here, the same way for
both, in the caller's transaction.

- **The message's row is locked first** (``lock_message``; ``lock_messages`` takes a
  batch's rows in id order, so two batches never wait on each other in a circle). Opens
  and clicks of one message are decided one after the other, and an erasure, which
  deletes the customer's messages under the same lock (journeys/operations/erasure.py),
  either comes first (the message is gone, nothing is recorded) or after (and deletes
  what was): a hit can never outlive the erasure of its customer.
- **Every open and click is a fact** (``message_events``, id from its source: recorded
  once), a machine's marked with why (journeys/intake/machines.py, or the ESP's own flag).
- **A person's first open of a message, and first click on each of its links, is one
  journey event**, whatever reports it: its id comes from (message, type, URL), so an
  ESP's open and our pixel's, or an ESP's click and our redirect's, are the same event.
- **The burst rule looks both ways.** Different links of one message clicked within the
  burst window are a scanner, the first of them too: when a click finds another link
  clicked in the window (before or after it: hits are serialised by the lock, not by
  their time), the clicks of that source in the window that had passed for a person's are
  marked as the scanner's, their count is taken back and their journey event withdrawn.
  So that a journey never hears of such a click, a person's click event is *held*: its
  outbox row is not due before the burst window has passed (``held``: the caller hands
  it over then; the relay does if the process is gone). An event already handed over
  cannot be taken back (that needs another event of the customer dispatched within the
  window, between a burst's first click and its second): it is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, func, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.analytics.message_facts import FIRST, cohort_of, record_message_event
from journeys.analytics.rollup import bump, variants_of
from journeys.contracts.email_event_types import CLICKED, OPENED
from journeys.contracts.events import Event, derived_id
from journeys.intake.event_store import store_in
from journeys.intake.machines import EarlierClick, Rules, Verdict, burst, burst_reason, classify_click, classify_open
from journeys.storage.analytics_tables import MessageEventRow
from journeys.storage.database import Database
from journeys.storage.tables import DispatchRow, EventRow, MessageRow, utcnow

log = logging.getLogger("journeys.engagement")

ENGAGEMENT = (OPENED, CLICKED)
# A held click's outbox row is due this long after the burst window: the relay leaves it
# alone until then, and the hit that would withdraw it has had time to commit.
HOLD_MARGIN = timedelta(seconds=1)
LOCK_CHUNK = 500
# PostgreSQL's deadlock and serialization failures: the transaction is rolled back whole,
# and doing it again is safe (every fact and event id is derived from its source).
RETRY_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 3

T = TypeVar("T")


@dataclass(frozen=True)
class Engagement:
    """One open or click, as its source reports it."""

    type: str  # OPENED or CLICKED
    source: str  # "tracking", or the ESP's name
    fact_id: str  # the message_events row's id, derived from the source's own: recorded once
    at: datetime
    user_agent: str | None = None  # None: the source did not say
    address: str | None = None
    flagged: Verdict | None = None  # the ESP's own word that a machine made it
    url: str | None = None  # a click's link
    properties: dict[str, Any] = field(default_factory=dict)  # the journey event's, if it is one


@dataclass
class Outcome:
    new: bool  # False: this very open or click was recorded before (a request or webhook repeated)
    verdict: Verdict | None = None  # None: a person
    stored: list[Event] = field(default_factory=list)  # the journey event, stored just now (a person's first)
    to_dispatch: list[Event] = field(default_factory=list)  # of it, what journeys may hear now (opens)
    held: list[Event] = field(default_factory=list)  # of it, what they hear once the burst window passed (clicks)
    known_event: str | None = None  # the journey event's id when it was stored before (by any source)
    withdrawn: list[str] = field(default_factory=list)  # journey events taken back (a burst found)
    note: dict[str, Any] | None = None  # the message history's entry for the stored event, for the caller to add


def journey_event_id(message_id: str, type: str, url: str | None) -> str:
    """The id of the journey event of a person's first open of a message (url None) or first
    click on one of its links: the same from every source, so the event store keeps one."""
    return derived_id("eml_", message_id, type, url or "")


async def lock_message(db: Database, session: AsyncSession, message_id: str) -> MessageRow | None:
    """The message, read under its row lock held to the end of the transaction; None if
    there is no such message (any more)."""
    return (await lock_messages(db, session, [message_id])).get(message_id)


async def lock_messages(db: Database, session: AsyncSession, message_ids: Iterable[str]) -> dict[str, MessageRow]:
    """The messages of these ids that exist, each read under its row lock, taken in id order.

    PostgreSQL: ``SELECT ... FOR UPDATE``. SQLite has no row locks: a write as the
    transaction's first statement takes the database's write lock (writers queue on
    busy_timeout), as the send policy's customer lock does (journeys/consent/policy.py);
    the rows are read after it. Call it before the transaction writes anything else."""
    wanted = sorted(set(message_ids))
    found: dict[str, MessageRow] = {}
    for start in range(0, len(wanted), LOCK_CHUNK):
        chunk = wanted[start : start + LOCK_CHUNK]
        if db.is_sqlite:
            await session.exec(  # type: ignore[call-overload]
                update(MessageRow)
                .where(col(MessageRow.id).in_(chunk))
                .values(updated_at=MessageRow.updated_at)
                .execution_options(synchronize_session=False)
            )
        query = (
            select(MessageRow)
            .where(col(MessageRow.id).in_(chunk))
            .order_by(col(MessageRow.id))
            .with_for_update()  # nothing on SQLite
            .execution_options(populate_existing=True)
        )
        for row in (await session.exec(query)).all():
            found[row.id] = row
    return found


async def retrying(db: Database, attempt: Callable[[], Awaitable[T]], what: str) -> T:
    """``attempt()`` (one whole transaction), again if PostgreSQL broke a deadlock by
    rolling it back."""
    for tries in range(1, ATTEMPTS + 1):
        try:
            return await attempt()
        except DBAPIError as exc:
            if db.is_sqlite or tries == ATTEMPTS or _sqlstate(exc) not in RETRY_SQLSTATES:
                raise
            log.warning("%s: %s; trying again (%d of %d)", what, str(exc.orig).splitlines()[0], tries + 1, ATTEMPTS)
    raise AssertionError("unreachable")


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)


async def record_engagement(
    db: Database,
    session: AsyncSession,
    message: MessageRow,
    item: Engagement,
    *,
    cares: Callable[[str], Any],
    rules: Rules = Rules(),
) -> Outcome:
    """Classify and record the open or click of ``message`` (locked by the caller, see
    ``lock_message``). Does not commit."""
    window = rules.burst_window
    found_burst = None
    nearby: list[tuple[datetime, str, str | None]] = []
    if item.type == CLICKED:
        url = item.url or ""
        nearby = await _clicks_near(session, message.id, item.source, item.at, window)
        others = [EarlierClick(at=at, url=link) for at, link, _ in nearby]
        # Not recorded as sent yet (the ESP has it a moment before the ledger does): the
        # claim is when sending began.
        verdict = item.flagged or classify_click(
            item.user_agent, item.address, url=url, sent_at=message.sent_at or message.claimed_at, now=item.at,
            earlier=others, rules=rules,
        )
        found_burst = burst(url, item.at, others, rules)
    else:
        verdict = item.flagged or classify_open(item.user_agent, item.address)
    if not await record_message_event(
        db, session, message, event_id=item.fact_id, type=item.type, source=item.source, occurred_at=item.at,
        machine=verdict[0] if verdict else None, detail=verdict[1] if verdict else None, url=item.url,
    ):
        return Outcome(new=False, verdict=verdict)
    outcome = Outcome(new=True, verdict=verdict)
    if found_burst is not None:
        links = len({link for _, link, _ in nearby} | {item.url or ""})
        outcome.withdrawn = await _mark_burst(db, session, message, item, window, burst_reason(links, rules))
    if verdict is not None:
        return outcome
    event = Event(
        id=journey_event_id(message.id, item.type, item.url), type=item.type, customer_id=message.customer_id,
        properties=item.properties, timestamp=item.at,
    )
    stored = await store_in(session, db, [event], needs_dispatch=lambda e: bool(cares(e.type)))
    if not stored.accepted:
        outcome.known_event = event.id
        return outcome
    outcome.stored = stored.accepted
    outcome.note = {"at": item.at.isoformat(timespec="seconds"), "status": item.type, "reason": item.url, "via": item.source}
    if item.type == CLICKED:
        outcome.held = stored.to_dispatch
        if stored.to_dispatch:
            stored_at = utcnow()
            await session.exec(  # type: ignore[call-overload]
                update(DispatchRow)
                .where(col(DispatchRow.event_id).in_([e.id for e in stored.to_dispatch]))
                # No dispatcher before the burst window (and half the margin, for the hit that
                # would withdraw it to commit); the relay half a margin later still.
                .values(next_attempt_at=stored_at + window + HOLD_MARGIN, not_before=stored_at + window + HOLD_MARGIN / 2)
                .execution_options(synchronize_session=False)
            )
    else:
        outcome.to_dispatch = stored.to_dispatch
    return outcome


def hold_seconds(rules: Rules = Rules()) -> float:
    """How long after storing it a held click event may be handed over."""
    # Just after the row's not_before (set before this timer starts): it is due when the timer fires.
    return (rules.burst_window + HOLD_MARGIN / 2).total_seconds() + 0.05


async def _clicks_near(
    session: AsyncSession, message_id: str, source: str, at: datetime, window: timedelta
) -> list[tuple[datetime, str, str | None]]:
    """The message's clicks from this source within the window around ``at``: (when, URL, machine)."""
    rows = await session.exec(
        select(MessageEventRow.occurred_at, MessageEventRow.url, MessageEventRow.machine).where(
            col(MessageEventRow.message_id) == message_id,
            col(MessageEventRow.type) == CLICKED,
            col(MessageEventRow.source) == source,
            col(MessageEventRow.occurred_at) >= at - window,
            col(MessageEventRow.occurred_at) <= at + window,
        )
    )
    return [(when, url or "", machine) for when, url, machine in rows.all()]


async def _mark_burst(
    db: Database, session: AsyncSession, message: MessageRow, item: Engagement, window: timedelta, reason: str
) -> list[str]:
    """The clicks of the burst that passed for a person's are the scanner's: marked so,
    their figures and journey events taken back. Returns the events withdrawn."""
    marked = await session.exec(  # type: ignore[call-overload]
        update(MessageEventRow)
        .where(
            col(MessageEventRow.message_id) == message.id,
            col(MessageEventRow.type) == CLICKED,
            col(MessageEventRow.source) == item.source,
            col(MessageEventRow.machine).is_(None),
            col(MessageEventRow.occurred_at) >= item.at - window,
            col(MessageEventRow.occurred_at) <= item.at + window,
        )
        .values(machine="scanner", detail=reason)
        .returning(col(MessageEventRow.url))
        .execution_options(synchronize_session=False)
    )
    urls = sorted({url or "" for url in marked.scalars().all()})
    if not urls:
        return []
    withdrawn: list[str] = []
    for url in urls:
        if not await _human_clicks(session, message.id, url):
            event_id = await _withdraw(db, session, message, url)
            if event_id is not None:
                withdrawn.append(event_id)
    await _take_back_counts(db, session, message)
    log.info("message %s: %d click(s) a person seemed to make are a scanner's burst (%s)", message.id, len(urls), reason)
    return withdrawn


async def _human_clicks(session: AsyncSession, message_id: str, url: str | None) -> bool:
    """Whether a person's click on the link (None: on any link) is still on record, from any source."""
    query = select(MessageEventRow.id).where(
        col(MessageEventRow.message_id) == message_id, col(MessageEventRow.type) == CLICKED, col(MessageEventRow.machine).is_(None)
    )
    if url is not None:
        query = query.where(col(MessageEventRow.url) == url)
    return (await session.exec(query.limit(1))).first() is not None


async def _withdraw(db: Database, session: AsyncSession, message: MessageRow, url: str) -> str | None:
    """The journey event of a click on ``url`` and its history entry, if journeys have not
    heard of it yet; its id, or None."""
    event_id = journey_event_id(message.id, CLICKED, url)
    outbox = (await session.exec(select(DispatchRow).where(col(DispatchRow.event_id) == event_id))).all()
    if any(row.dispatched_at is not None for row in outbox):
        log.warning("message %s: the click event %s of a scanner's burst had already been dispatched", message.id, event_id)
        return None
    await session.exec(delete(DispatchRow).where(col(DispatchRow.event_id) == event_id))  # type: ignore[call-overload]
    deleted = await session.exec(delete(EventRow).where(col(EventRow.id) == event_id))  # type: ignore[call-overload]
    if not deleted.rowcount:
        return None
    history = (await session.exec(select(MessageRow.history).where(col(MessageRow.id) == message.id))).one()
    entries = list(history or [])
    for position in range(len(entries) - 1, -1, -1):
        entry = entries[position]
        if isinstance(entry, dict) and entry.get("status") == CLICKED and entry.get("reason") == url:
            del entries[position]
            await session.exec(  # type: ignore[call-overload]
                update(MessageRow)
                .where(col(MessageRow.id) == message.id)
                .values(history=entries)
                .execution_options(synchronize_session=False)
            )
            break
    return event_id


async def _take_back_counts(db: Database, session: AsyncSession, message: MessageRow) -> None:
    """Clicked (and opened, a click being an open too) no longer counted for the message
    when no person's click (open) is left on record: the stamp cleared, the roll-up
    counter taken back in the hour it was counted in (journeys/analytics/message_facts.py)."""
    stamps = (await session.exec(select(MessageRow.clicked_at, MessageRow.opened_at).where(col(MessageRow.id) == message.id))).one()
    human = col(MessageEventRow.machine).is_(None)
    for type, stamped, kinds in ((CLICKED, stamps[0], (CLICKED,)), (OPENED, stamps[1], (OPENED, CLICKED))):
        if stamped is None:
            continue
        left = await session.exec(
            select(func.count()).select_from(MessageEventRow).where(
                col(MessageEventRow.message_id) == message.id, col(MessageEventRow.type).in_(kinds), human
            )
        )
        if left.one():
            continue
        column_name, metric = FIRST[type]
        await session.exec(  # type: ignore[call-overload]
            update(MessageRow)
            .where(col(MessageRow.id) == message.id)
            .values({column_name: None})
            .execution_options(synchronize_session=False)
        )
        variants = await variants_of(session, message.journey, message.entry_id)
        await bump(
            db, session, journey=message.journey or "", step=message.step or "", at=cohort_of(message), metric=metric,
            variants=variants, by=-1,
        )


async def add_note(db: Database, session: AsyncSession, message_id: str, entry: dict[str, Any]) -> None:
    """An entry at the end of the message log's history (appended by the database: another
    writer's entry is kept). The first human open and each link's first click get one."""
    await session.exec(  # type: ignore[call-overload]
        update(MessageRow)
        .where(col(MessageRow.id) == message_id)
        .values(history=db.json_append(MessageRow.history, entry))
        .execution_options(synchronize_session=False)
    )
