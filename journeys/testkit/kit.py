"""The journey test kit's engine: ``JourneyEnv`` (emit events, skip time, read what was
sent) and ``running_journeys`` (a real worker on a Temporal test environment with a fresh
SQLite ledger). The pytest fixtures that build them are in journeys/testkit/plugin.py.

Everything is real but the clock and the mailbox: the journeys, the worker, template
rendering, the send policy and ledger, dispatch. Emails land in a capturing ESP
instead of going out. ``advance`` skips time: a month takes a second.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from sqlmodel import col, select

from journeys.consent.subscriptions import ALL_MARKETING, set_subscriptions
from journeys.consent.suppressions import Reason, suppress
from journeys.contracts import search_attributes
from journeys.contracts.customers import CustomerIn
from journeys.contracts.events import Event
from journeys.contracts.journey_io import QUERY_STATE, JourneyState
from journeys.contracts.journey_spec import workflow_id
from journeys.contracts.one_off_messages import OneOffMessageIn, message_event
from journeys.customers.identity import merge_into
from journeys.customers.profiles import get_customer, upsert_customer
from journeys.dispatch.dispatcher import Dispatcher
from journeys.providers.base import OutgoingEmail
from journeys.storage.database import Database
from journeys.intake.event_store import store_events
from journeys.storage.migrate import upgrade
from journeys.storage.settings import Settings
from journeys.storage.tables import MessageRow
from journeys.testkit.capture import CaptureSender
from workflows.registry import Registry

SETTLE_DEADLINE = 15.0
# Between two looks at the journeys: each look is a query (a workflow activation on the
# worker), so looking more often slows the work it waits for. (Waking on each finished
# activity instead measured no faster.)
SETTLE_POLL_S = 0.005
# The least time one look gives a run to answer its state query.
QUERY_FLOOR_S = 2.0
SETTLE_LOOKS_AT_ONCE = 32
ADVANCE_DEADLINE = 20.0


async def register_search_attributes(env: WorkflowEnvironment) -> None:
    """The time-skipping server knows no custom search attributes until told."""
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in search_attributes.ALL},
        )
    )


class JourneyEnv:
    """One test's view of journeys: emit events, skip time, read what was sent."""

    def __init__(self, env: WorkflowEnvironment, db: Database, registry: Registry, settings: Settings) -> None:
        self.env = env
        self.db = db
        self.registry = registry
        self.settings = settings
        self.outbox = CaptureSender()
        self.dispatcher = Dispatcher(env.client, registry, db, settings.temporal_task_queue, settings.engine_version)
        # workflow id -> (run id, ids of the events that run was sent): settle() waits for them.
        self._events_sent: dict[str, set[str]] = {}
        self._run_ids: dict[str, str | None] = {}
        self._closed: set[str] = set()  # runs seen closed: settled until sent something new

    async def customer(
        self,
        customer_id: str,
        *,
        email: str | None = None,
        timezone: str = "UTC",
        locale: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        """Create or replace a customer profile (email defaults to <id>@example.com)."""
        data = CustomerIn(
            email=email or f"{customer_id}@example.com",
            timezone=timezone,
            locale=locale,
            attributes=attributes or {},
        )
        async with self.db.session() as session:
            await upsert_customer(session, self.db, customer_id, data)

    async def emit(
        self,
        type: str,
        *,
        customer: str,
        properties: dict[str, Any] | None = None,
        id: str | None = None,
        settle: bool = True,
    ) -> Event:
        """Send an event the way the API does and, unless ``settle=False``, wait until the
        journeys have taken it (pass False to send several events back to back)."""
        event = Event(id=id or uuid.uuid4().hex, type=type, customer_id=customer, properties=properties or {})
        return await self._dispatch(event, settle)

    async def send_message(
        self, customer: str, template: str, *, context: dict[str, Any] | None = None, id: str | None = None,
        if_capped: str = "skip",
        settle: bool = True,
    ) -> Event:
        """A one-off send, as ``POST /v1/customers/{id}/messages`` makes it."""
        body = OneOffMessageIn(id=id or uuid.uuid4().hex, template=template, context=context or {}, if_capped=if_capped)
        return await self._dispatch(message_event(customer, body), settle=settle)

    async def merge(self, anonymous_id: str, *, into: str) -> None:
        """The visitor known as ``anonymous_id`` signed up as customer ``into`` (what a Segment
        ``identify`` with both ids, or ``alias``, does): their journeys carry on as ``into``."""
        merged = await merge_into(self.db, anonymous_id, into)
        if merged is not None:
            await self._dispatch(merged, settle=True)

    async def unsubscribe(self, customer: str, topic: str = ALL_MARKETING) -> None:
        """The customer unsubscribes from ``topic`` (default: all marketing)."""
        async with self.db.session() as session:
            await set_subscriptions(self.db, session, customer, {topic: False}, source="test")

    async def suppress(self, email: str, reason: Reason = "manual") -> None:
        async with self.db.session() as session:
            await suppress(self.db, session, email, reason, source="test")
            await session.commit()

    async def messages(self, customer: str) -> list[MessageRow]:
        """The customer's message log, oldest first: every send and every policy decision."""
        async with self.db.session() as session:
            rows = await session.exec(
                select(MessageRow).where(MessageRow.customer_id == customer).order_by(col(MessageRow.created_at))
            )
            return list(rows.all())

    async def _dispatch(self, event: Event, settle: bool) -> Event:
        customer = event.customer_id
        # Kept in the event store as the API keeps it (the customer's timeline reads it);
        # handed to the journeys here, not by the outbox.
        await store_events(self.db, [event], needs_dispatch=lambda _: False)
        async with self.db.session() as session:
            profile = await get_customer(session, customer)
        # Count what each journey run should receive, so settle() knows when it has.
        for delivery in await self.dispatcher.dispatch(event, profile):
            wid = delivery.workflow_id
            self._closed.discard(wid)
            if delivery.how == "start" and self._run_ids.get(wid) != delivery.run_id:
                self._run_ids[wid] = delivery.run_id
                self._events_sent[wid] = {event.id}  # signal-with-start began a new run
            else:
                self._events_sent.setdefault(wid, set()).add(event.id)  # journeys dedupe by id
        if settle:
            await self.settle()
        return event

    async def advance(
        self, duration: timedelta | None = None, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> None:
        """Skip time forward, then wait until every journey has done what became due."""
        duration = (duration or timedelta()) + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        try:
            await asyncio.wait_for(self.env.sleep(duration), timeout=ADVANCE_DEADLINE)
        except TimeoutError:
            raise TimeoutError(
                f"the time-skipping server did not skip {duration} within {ADVANCE_DEADLINE}s: its clock is "
                "held while any workflow has a task no worker takes (e.g. a journey started on another "
                "task queue, or by a test that did not end it)"
            ) from None
        await self.settle()

    def emails_to(self, customer: str) -> list[OutgoingEmail]:
        """Every email sent to the customer, in order, as the ESP received it."""
        return [e for e in self.outbox.sent if e.metadata.get("customer_id") == customer]

    def sent_to(self, customer: str) -> list[str]:
        """Template names sent to the customer, in order."""
        return [e.metadata["template"] for e in self.emails_to(customer)]

    async def state(self, customer: str, journey: str, key: str | None = None) -> JourneyState:
        """The journey's state query (``key`` for keyed journeys, e.g. the cart id)."""
        handle = self.env.client.get_workflow_handle(workflow_id(journey, customer, key))
        return await handle.query(QUERY_STATE, result_type=JourneyState)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def advance_to(self, moment: datetime) -> None:
        """Skip time forward to an aware ``moment`` (e.g. 22:30 in the customer's time zone)."""
        duration = moment - await self.now()
        if duration < timedelta(0):
            raise ValueError(f"cannot go back in time to {moment} (now {await self.now()})")
        await self.advance(duration)

    async def settle(self) -> None:
        """Wait, with a deadline, until no journey has work due: nothing in flight, every
        event it was sent received, and no timer that has already come due."""
        deadline = asyncio.get_running_loop().time() + SETTLE_DEADLINE
        pending = {wid: "not looked at yet" for wid in self._events_sent if wid not in self._closed}
        # Every pending journey is looked at at once (at most SETTLE_LOOKS_AT_ONCE queries in
        # flight): one after the other, each held query (a journey stuck in a workflow task)
        # took its floor in turn, and settle overran its deadline by 2 s a stuck journey.
        looks = asyncio.Semaphore(SETTLE_LOOKS_AT_ONCE)

        async def look(wid: str) -> tuple[str, str | None]:
            async with looks:
                return wid, await self._busy_with(wid, deadline)

        while pending:
            for wid, busy_with in await asyncio.gather(*(look(wid) for wid in list(pending))):
                if busy_with is None:
                    del pending[wid]
                else:
                    pending[wid] = busy_with
            if not pending:
                break
            if asyncio.get_running_loop().time() > deadline:
                why = "; ".join(f"{wid}: {reason}" for wid, reason in sorted(pending.items()))
                raise TimeoutError(f"journeys did not settle within {SETTLE_DEADLINE}s: {why}")
            await asyncio.sleep(SETTLE_POLL_S)

    async def close(self) -> None:
        """End every journey this test started, so the next test starts clean."""
        for wid in self._events_sent:
            try:
                await self.env.client.get_workflow_handle(wid).terminate("test finished")
            except RPCError:
                pass

    # ----- internals -------------------------------------------------------------------

    async def _busy_with(self, wid: str, deadline: float) -> str | None:
        """What the journey still has to do now, or None once it has settled."""
        handle = self.env.client.get_workflow_handle(wid)
        try:
            # Status first: a closed run is not queried (that would replay its history).
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                self._closed.add(wid)  # settled until sent something new
                return None
            # A query waits for the run's workflow task to end, and a task running a local
            # activity (a send's first attempt at a hung ESP) lasts as long as the activity:
            # the query gets what is left of settle's deadline, but never less than a floor
            # (a look at many runs, each answering slowly on a busy machine, still settles).
            left = max(QUERY_FLOOR_S, deadline - asyncio.get_running_loop().time())
            state = await asyncio.wait_for(handle.query(QUERY_STATE, result_type=JourneyState), timeout=left)
        except RPCError as exc:
            return f"not answering ({exc})"
        except TimeoutError:
            return "busy in a workflow task (a send's first attempt or another local activity) that outlasted the deadline"
        if state.finished:
            return None
        if state.busy:
            return f"busy at {state.step}"
        expected = len(self._events_sent.get(wid, ()))
        if state.events_received < expected:
            return f"received {state.events_received} of {expected} events"
        if state.until is not None and state.until <= await self.env.get_current_time():
            return f"timer of {state.step} due at {state.until} not handled yet"
        return None


@asynccontextmanager
async def running_journeys(
    env: WorkflowEnvironment,
    registry: Registry,
    home: Path,
    templates_dir: Path | None = None,
    **settings_overrides: Any,
) -> AsyncIterator[JourneyEnv]:
    """A worker for ``registry`` on ``env`` with a fresh SQLite ledger in ``home``;
    ``settings_overrides`` set any setting (``quiet_hours="21:00-08:00"``, ...)."""
    from worker import build_worker

    home.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{home / 'journeys.db'}"
    upgrade(database_url)
    db = Database(database_url, sqlite_inline=True)
    if templates_dir is not None:
        settings_overrides["templates_dir"] = templates_dir
    settings = Settings(
        # Journeys run in Temporal's sandbox under test: stricter than production (which
        # relies on the static checks), so what a test passes runs unsandboxed too.
        **{"temporal_task_queue": f"test-{uuid.uuid4().hex[:8]}", "workflow_sandbox": True, **settings_overrides},
        home=home,
        database_url=database_url,
    )
    kit = JourneyEnv(env, db, registry, settings)
    worker = build_worker(env.client, settings=settings, db=db, sender=kit.outbox, registry=registry)
    async with worker:
        try:
            yield kit
        finally:
            await kit.close()
    await db.dispose()
