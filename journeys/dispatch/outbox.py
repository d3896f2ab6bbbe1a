"""Step 3 of an event's life: every stored event reaches Temporal, at once or later.

The API hands fresh events to ``submit`` straight after commit. The dispatcher takes
whatever has queued up since its last pass, so under load one database round trip
serves many events while a lone event still goes out at once. Each dispatch row is
then marked done, or rescheduled with backoff. The relay loop picks up
whatever is due: failed attempts, and events whose API process died before dispatching.
Journeys dedupe by event id, so the rare double delivery is harmless.

One customer's events reach Temporal in the order they were stored: a cart abandoned and
the order placed a moment later, in one batch, must not race (the order's signal would
find no journey yet, and the reminder would go out after the order). So each customer's
events are dispatched one after another, under a per-customer lock that batches in
flight share, and a failure holds back that customer's later events with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select
from temporalio.client import Client

from journeys.customers.profiles import to_customer
from journeys.contracts.customers import Customer
from journeys.storage.database import Database
from journeys.dispatch.dispatcher import Dispatcher
from journeys.intake.event_store import DISPATCH_LEASE, to_event
from journeys.contracts.events import Event
from journeys.storage.tables import CustomerAliasRow, CustomerRow, DispatchRow, EventRow, utcnow
from journeys.contracts.journey_spec import JourneyRoutes

log = logging.getLogger("journeys.outbox")

RELAY_BATCH = 200
DISPATCH_BATCH = 500
PARALLEL_BATCHES = 4


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(60, 2 ** max(0, attempts - 1)))


class Outbox:
    def __init__(self, db: Database, client: Client, registry: JourneyRoutes, task_queue: str, concurrency: int = 64) -> None:
        self.db = db
        self.client = client
        self.registry = registry
        self.dispatcher = Dispatcher(client, registry, db, task_queue)
        self._limit = asyncio.Semaphore(concurrency)
        self._fresh: list[Event] = []
        # customer id -> [lock, users]: one customer's events go one at a time, across batches
        self._locks: dict[str, list[Any]] = {}
        self._wake = asyncio.Event()

    def submit(self, events: list[Event]) -> None:
        """Queue stored events for dispatch now (the relay covers them if this process dies)."""
        if events:
            self._fresh.extend(events)
            self._wake.set()

    async def run_dispatcher(self, stop: asyncio.Event) -> None:
        """Dispatch submitted events in batches, a few batches in flight at a time."""
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
                batch, self._fresh = self._fresh[:DISPATCH_BATCH], self._fresh[DISPATCH_BATCH:]
                task = asyncio.create_task(self._dispatch_batch(batch, slots))
                running.add(task)
                task.add_done_callback(running.discard)
        stopped.cancel()
        if running:
            await asyncio.wait(running)

    async def _dispatch_batch(self, batch: list[Event], slots: asyncio.Semaphore) -> int:
        try:
            return await self.dispatch(batch)
        except Exception:  # noqa: BLE001 - the rows stay pending; the relay retries them
            log.exception("dispatching %d events failed; the relay will retry them", len(batch))
            return 0
        finally:
            slots.release()

    async def dispatch(self, events: list[Event]) -> int:
        """Hand events to Temporal now, each customer's in order; returns how many got through."""
        if not events:
            return 0
        customers = await self._customers_of([e for e in events if self.registry.route(e.type).starts])
        aliases = await self._aliases_of([e for e in events if self.registry.route(e.type).signals])
        by_customer: dict[str, list[Event]] = {}
        for event in events:
            by_customer.setdefault(event.customer_id, []).append(event)
        chains = await asyncio.gather(
            *[self._dispatch_in_order(chain, customers.get(cid), aliases.get(cid, [])) for cid, chain in by_customer.items()]
        )
        failed = {event_id: error for outcome in chains for event_id, error in outcome.items() if error is not None}
        done = [e.id for e in events if e.id not in failed]
        now = utcnow()
        async with self.db.session() as session:
            if done:
                await session.exec(  # type: ignore[call-overload]
                    update(DispatchRow).where(col(DispatchRow.event_id).in_(done)).values(dispatched_at=now)
                )
            if failed:  # one query for all of them: Temporal down means the whole batch failed
                retry = select(DispatchRow).where(col(DispatchRow.event_id).in_(list(failed)))
                rows = (await session.exec(retry)).all()
                # A customer's held-back events come back together with the one that failed.
                attempts: dict[str, int] = {}
                customer_of = {e.id: e.customer_id for e in events}
                for row in rows:
                    cid = customer_of[row.event_id]
                    attempts[cid] = max(attempts.get(cid, 0), row.attempts + 1)
                for row in rows:
                    row.attempts += 1
                    row.next_attempt_at = now + backoff(attempts[customer_of[row.event_id]])
                    row.last_error = failed[row.event_id][:2000]
                    session.add(row)
            await session.commit()
        if failed:
            log.warning(
                "%d of %d events not dispatched yet (relay retries): %s",
                len(failed),
                len(events),
                next(iter(failed.values())),
            )
        return len(done)

    async def _dispatch_in_order(
        self, chain: list[Event], customer: Customer | None, aliases: list[str]
    ) -> dict[str, str | None]:
        """One customer's events, one after another; after a failure the rest wait with it."""
        outcome: dict[str, str | None] = {}
        async with self._customer_lock(chain[0].customer_id):
            for event in chain:
                if any(outcome.values()):
                    outcome[event.id] = f"held back behind an earlier event of customer {event.customer_id}"
                    continue
                outcome[event.id] = await self._dispatch_one(event, customer, aliases)
        return outcome

    @contextlib.asynccontextmanager
    async def _customer_lock(self, customer_id: str) -> AsyncIterator[None]:
        entry = self._locks.setdefault(customer_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[customer_id]

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

    async def _dispatch_one(self, event: Event, customer: Customer | None, aliases: list[str]) -> str | None:
        async with self._limit:
            try:
                await self.dispatcher.dispatch(event, customer, aliases)
            except Exception as exc:  # noqa: BLE001 - any failure means "try again later"
                return f"{type(exc).__name__}: {exc}"
        return None

    async def relay_once(self) -> int:
        """Dispatch what is due; returns how many events it tried."""
        now = utcnow()
        async with self.db.session() as session:
            due = select(DispatchRow).where(
                col(DispatchRow.dispatched_at).is_(None), col(DispatchRow.next_attempt_at) <= now
            )
            # Oldest first (the outbox id is the storing order), so a customer's events go in order.
            due = due.order_by(col(DispatchRow.id)).limit(RELAY_BATCH)
            if not self.db.is_sqlite:
                due = due.with_for_update(skip_locked=True)  # several API processes: no overlap
            rows = (await session.exec(due)).all()
            if not rows:
                return 0
            for row in rows:  # lease them while this process works on them
                row.next_attempt_at = now + DISPATCH_LEASE
                session.add(row)
            ids = [row.event_id for row in rows]
            events = (await session.exec(select(EventRow).where(col(EventRow.id).in_(ids)))).all()
            await session.commit()
        by_id = {e.id: to_event(e) for e in events}
        batch = [by_id[i] for i in ids if i in by_id]
        sent = await self.dispatch(batch)
        log.info("relay: dispatched %d of %d pending events", sent, len(batch))
        return len(batch)

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
        async with self.db.session() as session:
            waiting = select(func.count()).select_from(DispatchRow).where(col(DispatchRow.dispatched_at).is_(None))
            return int((await session.exec(waiting)).one())
