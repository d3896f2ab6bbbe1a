"""Step 4 of an event's life: hand it to the journeys that care (DESIGN.md).

A journey *triggered* by the event type gets signal-with-start on its deterministic id,
so the first event starts it and later ones reach the running one. A running journey
that *listens* to the type (exit_on, wait_for) gets a plain signal; if none runs, there
is nobody to tell and that is fine. Journeys dedupe by event id, so delivering twice
(the relay retrying after a crash) is harmless.

Re-entry rules that Temporal alone cannot keep live here, on the journey_entries table:
``never`` (one entry per customer, ever, even after Temporal's retention forgot the run)
and ``always`` (one run per key value, e.g. per cart, whose ids we must find again).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from sqlmodel import col, select
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from journeys.contracts import search_attributes as sa
from journeys.contracts.customers import Customer
from journeys.storage.database import Database
from journeys.contracts.events import Event
from journeys.contracts.journey_io import ENGINE_VERSION, SIGNAL_EVENT, JourneyInput
from journeys.customers.identity import aliases_of
from journeys.storage.tables import JourneyEntryRow, utcnow
from journeys.contracts.journey_spec import JourneyRoutes, JourneySpec, entry_key, workflow_id
from journeys.telemetry import log_context, metrics

log = logging.getLogger("journeys.dispatch")


@dataclass(frozen=True)
class Delivery:
    """One journey run an event reached."""

    workflow_id: str
    how: Literal["start", "signal"]
    run_id: str | None = None  # for starts: the run the signal-with-start reached (new or running)


class Dispatcher:
    def __init__(
        self, client: Client, registry: JourneyRoutes, db: Database, task_queue: str, engine_version: int = ENGINE_VERSION
    ) -> None:
        self.client = client
        self.engine_version = engine_version  # stamped on the runs it starts (workflows/versions.py)
        self.registry = registry
        self.db = db
        self.task_queue = task_queue

    async def dispatch(
        self, event: Event, customer: Customer | None = None, aliases: list[str] | None = None
    ) -> list[Delivery]:
        """Deliver one event to every journey run it concerns.

        ``customer`` (the profile, if known) goes into the start input of journeys it starts;
        ``aliases``, the customer's other ids (looked up if not given), are where runs they
        started before sign-up still wait (journeys/customers/identity.py).
        """
        with log_context.bound(event_id=event.id, customer_id=event.customer_id):
            route = self.registry.route(event.type)
            if route.signals and aliases is None:
                async with self.db.session() as session:
                    aliases = await aliases_of(session, event.customer_id)
            ids = [event.customer_id, *(aliases or [])]
            reached = await asyncio.gather(
                *[self._start(spec, event, customer) for spec in route.starts],
                *[self._signal_running(spec, event, ids) for spec in route.signals],
            )
            delivered = [delivery for deliveries in reached for delivery in deliveries]
            for delivery in delivered:
                metrics.DISPATCHED.labels(how=delivery.how).inc()
                # The line that ties the event to its run: grep either id and find the other.
                with log_context.bound(workflow_id=delivery.workflow_id):
                    log.info("event %s (%s) reached %s (%s)", event.id, event.type, delivery.workflow_id, delivery.how)
            return delivered

    async def _start(self, spec: JourneySpec, event: Event, customer: Customer | None) -> list[Delivery]:
        key = spec.key_of(event.properties)
        if spec.key is not None and key is None:
            log.warning(
                "event %s (%s) has no %r property, which journey %s is keyed by: not started",
                event.id, event.type, spec.key, spec.name,
            )
            return []
        wid = workflow_id(spec.name, event.customer_id, key)
        if spec.reentry in ("never", "always") and not await self._record_entry(spec, event, entry_key(key), wid):
            return []  # reentry="never" and this customer entered before
        handle = await self.client.start_workflow(
            spec.name,
            JourneyInput(journey=spec.name, customer_id=event.customer_id, customer=customer, key=key, engine=self.engine_version),
            id=wid,
            task_queue=self.task_queue,
            start_signal=SIGNAL_EVENT,
            start_signal_args=[event],
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.CUSTOMER_ID, event.customer_id),
                    SearchAttributePair(sa.JOURNEY, spec.name),
                    SearchAttributePair(sa.CUSTOMER_KEY, sa.customer_key(event.customer_id)),
                    SearchAttributePair(sa.JOURNEY_STEP, "starting"),
                ]
            ),
        )
        return [Delivery(wid, "start", handle.result_run_id)]

    async def _record_entry(self, spec: JourneySpec, event: Event, key: str, wid: str) -> bool:
        """Record the entry; False if ``never`` forbids it (another event entered first)."""
        async with self.db.session() as session:
            entered = (
                self.db.insert(JourneyEntryRow)
                .values(
                    journey=spec.name,
                    customer_id=event.customer_id,
                    entry_key=key,
                    workflow_id=wid,
                    trigger_event_id=event.id,
                    entered_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["journey", "customer_id", "entry_key"])
                .returning(col(JourneyEntryRow.id))
            )
            first_entry = (await session.exec(entered)).first() is not None  # type: ignore[call-overload]
            await session.commit()
            if first_entry or spec.reentry != "never":
                return True
            first = await session.exec(
                select(JourneyEntryRow.trigger_event_id).where(
                    JourneyEntryRow.journey == spec.name,
                    JourneyEntryRow.customer_id == event.customer_id,
                    JourneyEntryRow.entry_key == key,
                )
            )
            # The same event again (a relay retry) may proceed; any other may not.
            return first.one() == event.id

    async def _signal_running(self, spec: JourneySpec, event: Event, ids: list[str]) -> list[Delivery]:
        """Signal the runs of ``spec`` under any of the customer's ``ids``."""
        key = spec.key_of(event.properties)
        if spec.key is None or key is not None:
            targets = [workflow_id(spec.name, cid, key) for cid in ids]
        else:
            targets = await self._keyed_runs(spec, ids)  # no key: every run hears it
        reached = await asyncio.gather(*[self._signal(wid, event) for wid in targets])
        return [Delivery(wid, "signal") for wid, ok in zip(targets, reached) if ok]

    async def _keyed_runs(self, spec: JourneySpec, ids: list[str]) -> list[str]:
        """Every recorded run of a keyed journey under any of the customer's ids."""
        async with self.db.session() as session:
            rows = await session.exec(
                select(JourneyEntryRow.workflow_id)
                .where(JourneyEntryRow.journey == spec.name, col(JourneyEntryRow.customer_id).in_(ids))
                .order_by(col(JourneyEntryRow.id))
            )
            return list(rows.all())

    async def _signal(self, wid: str, event: Event) -> bool:
        try:
            await self.client.get_workflow_handle(wid).signal(SIGNAL_EVENT, event)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False  # not in that journey (or it already finished)
            raise
        return True

