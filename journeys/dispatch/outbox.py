"""Step 3 of an event's life: every stored event reaches Temporal, at once or later, and a
customer's events reach it in the order they were stored, whatever the number of API
processes.

**The order is kept by the database.** Each outbox row carries its customer, and its id is
the storing order. A dispatcher hands over a customer's pending rows oldest first and
stops at the first failure, so a row goes only after every earlier row of that customer
has gone or has been set aside as a dead letter. That holds for the fresh path and the
relay alike, in one process or several: whoever hands over an event has itself seen every
earlier one handed over (or marked so) first. A claim per customer (journeys/dispatch/
claims.py) keeps two processes from doing the same work; it is not what keeps the order.

**Fresh events go at once.** The API submits the customers of what it just stored; the
dispatcher claims them, hands over their pending rows and gives the claims back, in
batches of whatever queued up meanwhile (a lone event still goes at once). After giving
a claim back it looks once more, so an event stored while another owner held the claim
is not left for the relay.

**The relay** picks up what is due: rows whose API process died before dispatching them
(after ``FRESH_GRACE``) and rows waiting out a backoff. Failures follow
journeys/dispatch/failures.py: Temporal away means retry for as long as it takes; an event
Temporal refuses becomes a dead letter after ``max_attempts`` and stops holding back the
customer's later events.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, exists, func, update
from sqlmodel import col, select
from temporalio.client import Client

from journeys.contracts.customers import Customer
from journeys.contracts.events import Event
from journeys.contracts.journey_spec import JourneyRoutes
from journeys.customers.profiles import to_customer
from journeys.dispatch import claims
from journeys.contracts.journey_io import ENGINE_VERSION
from journeys.dispatch.dispatcher import Dispatcher
from journeys.dispatch.failures import backoff, describe, refused
from journeys.intake.event_store import to_event
from journeys.storage.database import Database
from journeys.storage.tables import CustomerAliasRow, CustomerRow, DispatchClaimRow, DispatchRow, EventRow, utcnow
from journeys.telemetry import metrics

log = logging.getLogger("journeys.outbox")

RELAY_BATCH = 200  # customers per relay pass
DISPATCH_BATCH = 500  # customers per fresh batch
PARALLEL_BATCHES = 4
ROWS_PER_PASS = 2000  # pending rows loaded per pass; a longer backlog takes more passes
MAX_ROUNDS = 8  # look-again rounds after giving claims back, per batch
CLAIM_LEASE = timedelta(seconds=30)

_rows = DispatchRow.__table__  # type: ignore[attr-defined]


@dataclass
class _Outcome:
    """What one pass did to one customer's chain of pending rows."""

    done: list[int] = field(default_factory=list)
    dead: list[tuple[DispatchRow, str]] = field(default_factory=list)
    failed: tuple[DispatchRow, str, bool] | None = None  # the row, why, and whether Temporal refused it
    held: list[int] = field(default_factory=list)  # behind the failed or blocked head
    blocked_until: datetime | None = None  # the head is waiting out a backoff


class Outbox:
    def __init__(
        self,
        db: Database,
        client: Client,
        registry: JourneyRoutes,
        task_queue: str,
        concurrency: int = 64,
        *,
        max_attempts: int = 5,
        owner: str | None = None,
        engine_version: int = ENGINE_VERSION,
    ) -> None:
        self.db = db
        self.client = client
        self.registry = registry
        self.dispatcher = Dispatcher(client, registry, db, task_queue, engine_version)
        self.max_attempts = max_attempts
        # At most 64 characters (dispatch_claims.owner): host names can be long.
        self.owner = (owner or f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}")[:64]
        self._limit = asyncio.Semaphore(concurrency)
        self._fresh: dict[str, None] = {}  # customers with fresh events, in arrival order
        self._wake = asyncio.Event()

    # ----- the fresh path ---------------------------------------------------------------

    def submit(self, events: Iterable[Event]) -> None:
        """Queue the customers of stored events for dispatch now (the relay covers them if
        this process dies first)."""
        before = len(self._fresh)
        self._fresh.update((e.customer_id, None) for e in events)
        if len(self._fresh) > before:
            self._wake.set()

    async def run_dispatcher(self, stop: asyncio.Event) -> None:
        """Dispatch submitted customers in batches, a few batches in flight at a time."""
        slots = asyncio.Semaphore(PARALLEL_BATCHES)
        running: set[asyncio.Task[int]] = set()
        stopped = asyncio.create_task(stop.wait())
        while not stop.is_set():
            woke = asyncio.create_task(self._wake.wait())
            await asyncio.wait({woke, stopped}, return_when=asyncio.FIRST_COMPLETED)
            woke.cancel()
            while self._fresh:
                await slots.acquire()
                self._wake.clear()
                batch = list(self._fresh)[:DISPATCH_BATCH]
                for customer in batch:
                    del self._fresh[customer]
                task = asyncio.create_task(self._dispatch_batch(batch, slots))
                running.add(task)
                task.add_done_callback(running.discard)
        stopped.cancel()
        if running:
            await asyncio.wait(running)

    async def _dispatch_batch(self, customers: list[str], slots: asyncio.Semaphore) -> int:
        try:
            return await self.dispatch_customers(customers)
        except Exception:  # noqa: BLE001 - the rows stay pending; the relay retries them
            log.exception("dispatching for %d customers failed; the relay will retry", len(customers))
            return 0
        finally:
            slots.release()

    async def dispatch(self, events: Iterable[Event]) -> int:
        """Hand over everything pending of these events' customers; how many went."""
        return await self.dispatch_customers({e.customer_id for e in events})

    async def dispatch_customers(self, customer_ids: Iterable[str]) -> int:
        """Claim the customers, hand over their pending events in storing order, give the
        claims back, and look again for events stored meanwhile. Returns how many went."""
        handed = 0
        wanted = set(customer_ids)
        for _ in range(MAX_ROUNDS):
            if not wanted:
                break
            now = utcnow()
            mine = await claims.take(self.db, self.owner, wanted, now, now + CLAIM_LEASE)
            if not mine:
                break
            renewing = asyncio.create_task(self._keep(mine))
            try:
                handed += await self._hand_over(mine)
            finally:
                renewing.cancel()
                await claims.give_back(self.db, self.owner, mine)
            wanted = await self._still_due(mine)
        return handed

    async def _keep(self, customers: set[str]) -> None:
        """Renew the claims every third of the lease while a pass runs."""
        while True:
            await asyncio.sleep(CLAIM_LEASE.total_seconds() / 3)
            try:
                await claims.renew(self.db, self.owner, customers, utcnow() + CLAIM_LEASE)
            except Exception:  # noqa: BLE001 - the next renewal, or the lease, covers it
                log.warning("renewing the dispatch claims of %d customers failed", len(customers), exc_info=True)

    # ----- the relay --------------------------------------------------------------------

    async def relay_once(self) -> int:
        """Dispatch for the customers with something due; returns how many customers."""
        now = utcnow()
        claimed_by_others = exists().where(
            and_(col(DispatchClaimRow.customer_id) == col(DispatchRow.customer_id), col(DispatchClaimRow.until) >= now)
        )
        due = (
            select(DispatchRow.customer_id)
            .where(
                col(DispatchRow.dispatched_at).is_(None),
                col(DispatchRow.dead_at).is_(None),
                col(DispatchRow.next_attempt_at) <= now,
                ~claimed_by_others,
            )
            .group_by(col(DispatchRow.customer_id))
            .order_by(func.min(DispatchRow.id))
            .limit(RELAY_BATCH)
        )
        async with self.db.session() as session:
            customers = list((await session.exec(due)).all())
        if not customers:
            return 0
        handed = await self.dispatch_customers(customers)
        log.info("relay: %d events handed to Temporal for %d customers", handed, len(customers))
        return len(customers)

    async def run_relay(self, interval: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                busy = await self.relay_once()
            except Exception:  # noqa: BLE001 - the relay must outlive a bad moment
                log.exception("relay pass failed; trying again")
                busy = 0
            if busy < RELAY_BATCH:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=interval)
                except TimeoutError:
                    pass

    async def pending(self) -> int:
        """Events not handed over yet (dead letters not counted); a count over the table, so
        a report session (journeys/storage/database.py)."""
        async with self.db.report_session() as session:
            waiting = (
                select(func.count())
                .select_from(DispatchRow)
                .where(col(DispatchRow.dispatched_at).is_(None), col(DispatchRow.dead_at).is_(None))
            )
            return int((await session.exec(waiting)).one())

    # ----- one pass over claimed customers -----------------------------------------------

    async def _hand_over(self, customers: set[str]) -> int:
        chains = await self._chains(customers)
        if not chains:
            return 0
        events = [event for chain in chains.values() for _, event in chain]
        profiles = await self._customers_of([e for e in events if self.registry.route(e.type).starts])
        aliases = await self._aliases_of([e for e in events if self.registry.route(e.type).signals])
        now = utcnow()
        outcomes = await asyncio.gather(
            *[self._run_chain(chain, profiles.get(cid), aliases.get(cid, []), now) for cid, chain in chains.items()]
        )
        await self._record(outcomes, now)
        failures = [o.failed[1] for o in outcomes if o.failed is not None]
        if failures:
            log.warning("%d customers' events wait for a retry: %s", len(failures), failures[0])
        return sum(len(o.done) for o in outcomes)

    async def _chains(self, customers: set[str]) -> dict[str, list[tuple[DispatchRow, Event]]]:
        """Each customer's pending rows with their events, oldest first."""
        query = (
            select(DispatchRow, EventRow)
            .join(EventRow, col(EventRow.id) == col(DispatchRow.event_id))
            .where(
                col(DispatchRow.customer_id).in_(sorted(customers)),
                col(DispatchRow.dispatched_at).is_(None),
                col(DispatchRow.dead_at).is_(None),
            )
            .order_by(col(DispatchRow.id))
            .limit(ROWS_PER_PASS)
        )
        chains: dict[str, list[tuple[DispatchRow, Event]]] = {}
        async with self.db.session() as session:
            for row, event in (await session.exec(query)).all():
                chains.setdefault(row.customer_id, []).append((row, to_event(event)))
        return chains

    async def _run_chain(
        self, chain: list[tuple[DispatchRow, Event]], customer: Customer | None, aliases: list[str], now: datetime
    ) -> _Outcome:
        outcome = _Outcome()
        head = chain[0][0]
        if head.attempts > 0 and head.next_attempt_at > now:  # waiting out a backoff
            outcome.blocked_until = head.next_attempt_at
            outcome.held = [row.id for row, _ in chain[1:] if row.id is not None]
            return outcome
        for position, (row, event) in enumerate(chain):
            assert row.id is not None
            if row.not_before is not None and row.not_before > now:  # held: it and what follows wait
                outcome.blocked_until = row.not_before
                outcome.held = [later.id for later, _ in chain[position + 1 :] if later.id is not None]
                break
            error = await self._one(event, customer, aliases)
            if error is None:
                outcome.done.append(row.id)
                continue
            refusal = refused(error)
            metrics.DISPATCHED.labels(how="refused" if refusal else "retried").inc()
            if refusal and row.refusals + 1 >= self.max_attempts:
                # Temporal refuses this event, again: set it aside, go on with the next.
                log.error("event %s of customer %s is a dead letter: %s", event.id, event.customer_id, describe(error))
                outcome.dead.append((row, describe(error)))
                continue
            outcome.failed = (row, describe(error), refusal)
            outcome.held = [later.id for later, _ in chain[position + 1 :] if later.id is not None]
            break
        return outcome

    async def _one(self, event: Event, customer: Customer | None, aliases: list[str]) -> BaseException | None:
        async with self._limit:
            try:
                await self.dispatcher.dispatch(event, customer, aliases)
            except Exception as exc:  # noqa: BLE001 - classified by the caller
                return exc
        return None

    async def _record(self, outcomes: list[_Outcome], now: datetime) -> None:
        """What the pass did, in one transaction; only rows still pending are touched."""
        pending = and_(_rows.c.dispatched_at.is_(None), _rows.c.dead_at.is_(None))
        done = [row_id for o in outcomes for row_id in o.done]
        failed = [(o.failed, o.held) for o in outcomes if o.failed is not None]
        dead = [item for o in outcomes for item in o.dead]
        blocked = [(o.blocked_until, o.held) for o in outcomes if o.blocked_until is not None and o.held]
        first = func.coalesce(_rows.c.first_attempt_at, now)
        async with self.db.session() as session:
            if done:
                await session.exec(  # type: ignore[call-overload]
                    update(_rows)
                    .where(_rows.c.id.in_(done), pending)
                    .values(dispatched_at=now, last_attempt_at=now, first_attempt_at=first, last_error=None)
                )
            tried = [
                {"rid": row.id, "tries": row.attempts + 1, "refusals": row.refusals + refusal, "error": error,
                 "at": now + backoff(row.attempts + 1), "dead": None}
                for (row, error, refusal), _ in failed
            ] + [
                {"rid": row.id, "tries": row.attempts + 1, "refusals": row.refusals + 1, "error": error, "at": now, "dead": now}
                for row, error in dead
            ]
            if tried:
                await session.exec(  # type: ignore[call-overload]
                    update(_rows)
                    .where(_rows.c.id == bindparam("rid"), pending)
                    .values(
                        attempts=bindparam("tries"),
                        refusals=bindparam("refusals"),
                        last_error=bindparam("error"),
                        next_attempt_at=bindparam("at"),
                        dead_at=bindparam("dead"),
                        resolution=None,  # dead again after an operator's retry: unresolved again
                        first_attempt_at=first,
                        last_attempt_at=now,
                    ),
                    params=tried,
                )
            # The customer's later rows wait with the head, so the relay does not pick them
            # up before the head is due again.
            for until, held in [(now + backoff(row.attempts + 1), held) for (row, _, _), held in failed] + blocked:
                if held and until is not None:
                    await session.exec(  # type: ignore[call-overload]
                        update(_rows)
                        .where(_rows.c.id.in_(held), pending, _rows.c.next_attempt_at < until)
                        .values(next_attempt_at=until)
                    )
            await session.commit()

    async def _still_due(self, customers: set[str]) -> set[str]:
        """Those of ``customers`` whose oldest pending row may go now (stored while we held
        their claim, say); not those whose oldest row waits out a backoff."""
        now = utcnow()
        later = DispatchRow.__table__.alias("later")  # type: ignore[attr-defined]
        oldest = (
            select(func.min(later.c.id))
            .where(later.c.customer_id == _rows.c.customer_id, later.c.dispatched_at.is_(None), later.c.dead_at.is_(None))
            .scalar_subquery()
        )
        query = select(_rows.c.customer_id).where(
            _rows.c.customer_id.in_(sorted(customers)),
            _rows.c.id == oldest,
            (_rows.c.attempts == 0) | (_rows.c.next_attempt_at <= now),
            _rows.c.not_before.is_(None) | (_rows.c.not_before <= now),
        )
        async with self.db.session() as session:
            return set((await session.exec(query)).all())  # type: ignore[call-overload]

    async def _customers_of(self, events: list[Event]) -> dict[str, Customer]:
        """Profiles for the journeys about to start: one query, and no lookup in each workflow."""
        ids = list({e.customer_id for e in events})
        if not ids:
            return {}
        async with self.db.session() as session:
            rows = (await session.exec(select(CustomerRow).where(col(CustomerRow.id).in_(ids)))).all()
        return {row.id: to_customer(row) for row in rows}

    async def _aliases_of(self, events: list[Event]) -> dict[str, list[str]]:
        """The other ids of the customers whose running journeys are about to be signalled."""
        ids = list({e.customer_id for e in events})
        if not ids:
            return {}
        async with self.db.session() as session:
            rows = await session.exec(select(CustomerAliasRow).where(col(CustomerAliasRow.customer_id).in_(ids)))
            found: dict[str, list[str]] = {}
            for row in rows.all():
                found.setdefault(row.customer_id, []).append(row.alias_id)
        return found
