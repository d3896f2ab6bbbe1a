"""The journey engine: the ``Journey`` base class every journey extends.

A journey is a Temporal workflow, one per customer and journey, with the id
``journey:{journey}:{customer_id}``. Every event for it arrives through one signal and
lands in an **inbox**; ``wait_for`` consumes from the inbox, so an event that arrived
before the wait began is never missed. An ``exit_on`` event ends the journey wherever
it is, by cancelling the steps (timers and activities included). How a journey is
declared (``@journey``) lives in workflows/definition.py; both are imported from here.
The engine's parts: the inbox (workflows/inbox.py), where the journey is for operators
(workflows/steps.py) and goal conversions (workflows/goals.py).

This module runs inside Temporal's workflow sandbox: no I/O, no wall clock, no randomness.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from journeys.contracts.activity_io import (
        DeliverInput,
        DeliverResult,
        IfCapped,
    )
    from journeys.contracts import search_attributes as sa
    from journeys.contracts.customers import Customer
    from journeys.contracts.events import Event
    from journeys.contracts.journey_io import (
        MERGED_EVENT,
        QUERY_STATE,
        SIGNAL_EVENT,
        Carried,
        JourneyInput,
        JourneyResult,
        JourneyState,
    )
    from workflows.definition import JourneySpec, Reentry, journey, workflow_id
    from workflows.goals import Goals
    from workflows.records import Records
    from workflows.timers import Timers
    from workflows.inbox import Inbox, Where, matcher
    from workflows import activity_calls, handover
    from workflows.steps import StepTracker
    from workflows.variants import choose_variant
    from workflows.versions import SEND_CANCEL_WAITS, STOP_MEANS_STOP, since


class Journey(Records, Timers):
    """Base class of every journey. Subclasses implement ``steps``."""

    spec: ClassVar[JourneySpec]
    # checkpoint() continues-as-new past this many history events (Temporal suggests it at
    # 4,096 and refuses more than 51,200); a journey may lower it.
    max_history_events: ClassVar[int] = 2_000
    # What a marketing send held by the frequency cap does, unless send() says otherwise:
    # "skip" (logged as capped) or "wait" for the next free slot.
    if_capped: ClassVar[IfCapped] = "skip"

    def __init__(self) -> None:
        self._inbox = Inbox()
        self._steps = StepTracker()
        self._trigger: Event | None = None
        self._exit_event: Event | None = None
        self._customer_id = ""
        self._customer: Customer | None = None
        self._send_counts: dict[str, int] = {}
        self._sent: list[str] = []
        self._runs = 1
        self._key: str | None = None
        # The journey's own data, JSON-serialisable; carried across continue-as-new.
        self.state: dict[str, Any] = {}
        self._variants: dict[str, str] = {}
        self._goals = Goals(self._record_conversion)
        self._stopping = False  # an exit or a cancel is ending the steps
        self._engine = 0  # the engine behaviours this run has (workflows/versions.py)

    # ----- what journey code uses ---------------------------------------------------------

    async def steps(self, event: Event) -> None:
        raise NotImplementedError("a journey implements `async def steps(self, event)`")

    @property
    def customer(self) -> Customer:
        """The customer's profile, as of journey start or the latest send/refresh."""
        return self._customer or Customer(id=self._customer_id)

    def now(self) -> datetime:
        """Workflow time: deterministic, and skipped ahead in tests."""
        return workflow.now()

    async def refresh(self) -> Customer:
        """Reload the customer's profile, e.g. before branching on an attribute."""
        await self._record_entry_due()
        self._customer = await activity_calls.load_customer(self._customer_id, self._steps)
        return self.customer

    async def wait_for(
        self, event_type: str, *, where: Where = None, timeout: timedelta | None = None, step: str | None = None
    ) -> Event | None:
        """The first ``event_type`` event from the inbox (earlier arrivals count); None on timeout.

        ``where`` narrows the match: a dict of property values (``{"cart_id": "k1"}``) or a
        function of the event. Events that do not match stay in the inbox. ``step`` names
        this point for operators (the ``JourneyStep`` search attribute); default
        ``wait:<type>``.
        """
        return await self.wait_for_any([event_type], where=where, timeout=timeout, step=step)

    async def wait_for_any(
        self, event_types: Iterable[str], *, where: Where = None, timeout: timedelta | None = None, step: str | None = None
    ) -> Event | None:
        """The first event of any of ``event_types`` (same rules as ``wait_for``)."""
        types = frozenset(event_types)
        matches = matcher(where)
        if self._inbox.peek(types, matches) is None:
            await self._record_entry_due()
            label = step or "wait:" + "|".join(sorted(types))
            self._steps.set(label, waiting_for=sorted(types), timeout=timeout)
            try:
                await workflow.wait_condition(lambda: self._inbox.peek(types, matches) is not None, timeout=timeout)
            except asyncio.TimeoutError:
                return None
        return self._inbox.take(types, matches)

    async def split(self, name: str, variants: dict[str, int]) -> str:
        """A/B split: this customer's variant, by weight, e.g. ``{"short": 50, "long": 50}``.

        Deterministic (the same customer gets the same variant of the same split, entry
        after entry) and recorded in the database for the results.
        """
        if name in self._variants:
            return self._variants[name]
        variant = choose_variant(self.spec.name, name, self._customer_id, variants)
        self._variants[name] = variant
        await self._record_split(name, variant)
        return variant

    def goal(self, event_type: str, *, exit: bool = False) -> None:
        """From here on, an ``event_type`` event is a conversion (once per entry, with the
        customer's variants); ``exit=True`` also ends the journey when it comes."""
        self._goals.declare(event_type, exit=exit)
        already = self._inbox.peek(frozenset([event_type]))
        if already is not None:
            self._on_goal(already)

    async def checkpoint(self) -> None:
        """Continue-as-new if the history has grown large; call it once per loop iteration.

        The next run calls ``steps`` again from the top with the same trigger, ``self.state``,
        the inbox, the ids of events seen and the send counters carried over (bounded:
        workflows/handover.py), so no event is lost or handled twice, no email sent twice.
        Code before the loop should look at ``self.state`` to skip what was done.
        """
        info = workflow.info()
        if info.get_current_history_length() < self.max_history_events and not info.is_continue_as_new_suggested():
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
        await workflow.wait_condition(lambda: self._goals.all_recorded)
        await self._record_entry_due()
        assert self._trigger is not None
        carried = Carried(
            trigger=self._trigger,
            inbox=handover.inbox_to_carry(self.spec.name, self._inbox.events),
            seen_ids=handover.seen_to_carry(list(self._inbox.seen)),
            received=self._inbox.received,
            send_counts=self._send_counts,
            sent=handover.sent_to_carry(self._sent),
            data=self.state,
            runs=self._runs + 1,
            variants=self._variants,
            goals=self._goals.ends,
            converted=self._goals.converted,
        )
        next_input = JourneyInput(
            journey=self.spec.name, customer_id=self._customer_id, customer=self._customer, key=self._key, carried=carried,
            engine=self._engine,  # kept: a worker of the older code may take the next run (a rolling upgrade)
        )
        handover.check_size(next_input)
        workflow.logger.info("journey %s continues as new (run %d)", self.spec.name, carried.runs)
        workflow.continue_as_new(next_input)

    async def send(
        self, template: str, *, context: dict[str, Any] | None = None, if_capped: IfCapped | None = None
    ) -> DeliverResult:
        """Render ``template`` for this customer and send it, exactly once per journey step.

        The send policy decides first, whatever the journey does: suppressed, unsubscribed
        and capped sends are not sent (the result says so, and why); a marketing send in the
        customer's quiet hours, or held by the cap with ``if_capped="wait"``, waits here on
        a durable timer and then goes.
        """
        step = activity_calls.step_name(self._send_counts, template)
        # JourneyStep (the search attribute) says where customers *wait*; a send shows in
        # the Temporal UI as the pending activity (no upsert: a visibility write saved).
        self._steps.set(step, searchable=False)
        assert self._trigger is not None
        key = activity_calls.idempotency_key(self._trigger.id, step)
        request = DeliverInput(
            idempotency_key=key,
            customer_id=self._customer_id,
            template=template,
            context=context or {},
            journey=self.spec.name,
            step=step,
            if_capped=if_capped or self.if_capped,
            entry_id=self._trigger.id if self._trigger is not None else None,
            variants=dict(self._variants),
            entered=self._entry_due,
        )
        deferred = False
        try:
            while True:
                # The customer may have changed since the first try (an identity merge).
                result = await activity_calls.deliver(request.model_copy(update={"customer_id": self._customer_id}), self._steps, self._engine)
                self._entry_due = request.entered = None  # the send recorded it
                if result.customer is not None:
                    self._customer = result.customer
                if result.status != "deferred" or result.until is None:
                    break
                deferred = True
                if self._stopping:  # the send was asked to stop and finished deferred anyway
                    raise asyncio.CancelledError
                label = "quiet-hours" if result.deferred_for == "quiet hours" else "capped"
                await self.sleep_until(result.until, step=f"{label}:{template}")
        except BaseException as exc:
            if not is_cancelled_exception(exc):
                raise
            # The journey ended while this send waited (quiet hours, a cap) or was out: a
            # send the ledger holds as deferred is logged cancelled (compare-and-set).
            if deferred or since(SEND_CANCEL_WAITS, self._engine):
                await activity_calls.cancel_deferred(key)
            raise
        if result.status == "sent":
            self._sent.append(template)
        # Asked to stop while the ESP had the email: the activity returned its result (a
        # cancellation cannot take a send back), and the journey must not go on to its next
        # step. Every other step's await raises the cancellation itself.
        if self._stopping and since(STOP_MEANS_STOP, self._engine):
            raise asyncio.CancelledError
        return result

    # ----- signals and queries --------------------------------------------------------------

    @workflow.signal(name=SIGNAL_EVENT)
    def _receive(self, event: Event) -> None:
        if not self._inbox.first_time(event):
            return
        if event.type == MERGED_EVENT:
            self._adopt(event)
            return
        if self._trigger is not None and self._goals.is_goal(event.type):
            self._on_goal(event)
        if self._trigger is not None and event.type in self.spec.exit_on:
            if self._exit_event is None:
                self._exit_event = event
            return
        self._inbox.add(event)

    @workflow.query(name=QUERY_STATE)
    def _state(self) -> JourneyState:
        return JourneyState(
            journey=self.spec.name,
            customer_id=self._customer_id,
            step=self._steps.step,
            waiting_for=self._steps.waiting_for,
            until=self._steps.until,
            events_received=self._inbox.received,
            busy=self._steps.busy,
            finished=self._steps.finished,
            sent=self._sent,
            data=self.state,
            runs=self._runs,
            variants=self._variants,
            converted=self._goals.converted,
        )

    # ----- the engine -----------------------------------------------------------------------

    async def _run(self, input: JourneyInput) -> JourneyResult:
        if not self._customer_id:  # else a merge signal before this task already told us who
            self._customer_id, self._customer = input.customer_id, input.customer
        self._key = input.key
        self._engine = input.engine
        if input.carried is not None:
            trigger = input.carried.trigger
            after_trigger = self._resume(input.carried)
        else:
            await workflow.wait_condition(lambda: self._inbox.peek(self.spec.triggers) is not None)
            trigger, after_trigger = self._inbox.take_trigger(self.spec.triggers)
            workflow.logger.info("journey %s entered by %s (%s)", self.spec.name, trigger.type, trigger.id)
        self._trigger = trigger
        if input.carried is None:
            await self._entered()
        # Signals that came after the trigger but before this task went to the inbox, exits
        # included (the trigger was not known yet): such an exit still ends the journey.
        exit_event = next((e for e in after_trigger if e.type in self.spec.exit_on), None)
        if exit_event is not None and self._exit_event is None:
            self._inbox.events.remove(exit_event)
            self._exit_event = exit_event

        steps = asyncio.create_task(self.steps(trigger))
        try:
            await workflow.wait_condition(lambda: steps.done() or self._exit_event is not None)
        except asyncio.CancelledError:
            # Cancelled from outside (DELETE .../journeys/{j}): end the steps the way an exit
            # does, so a waiting send is logged cancelled and conversions are recorded.
            await self._stop(steps)
            await self._ended("cancelled")
            raise
        if not steps.done():
            exit_event = self._exit_event
            assert exit_event is not None
            await self._stop(steps)
            self._steps.finish(f"exited on {exit_event.type}")
            workflow.logger.info("journey %s exited on %s", self.spec.name, exit_event.type)
            await self._ended("exited", exit_event.type)
            return JourneyResult(outcome="exited", exit_event_type=exit_event.type, sent=self._sent)
        if steps.exception() is not None:
            await self._record_entry_due()  # the entry counts even while the run is stuck on its bug
        steps.result()  # a bug in journey code surfaces here, as a failed workflow task
        await self._goals.flush()
        self._steps.finish("completed")
        await self._ended("completed")
        return JourneyResult(outcome="completed", sent=self._sent)

    def _resume(self, carried: Carried) -> list[Event]:
        """Take over the previous run's state; returns the events that arrived in between."""
        # Signals that reached this run before its first task are already in the inbox:
        # put the carried events first, and drop any this journey has seen before.
        arrived = self._inbox.resume(carried.inbox, carried.seen_ids, carried.received)
        self._send_counts = dict(carried.send_counts)
        self._sent = list(carried.sent)
        self.state = dict(carried.data)
        self._runs = carried.runs
        self._variants = dict(carried.variants)
        self._goals.converted = list(carried.converted)
        for goal_type, ends in carried.goals.items():
            self.goal(goal_type, exit=ends)
        return arrived

    async def _stop(self, steps: asyncio.Task[None]) -> None:
        # A send waiting for its cancellation to complete may still return a result: it
        # looks here before waiting any further.
        self._stopping = True
        steps.cancel()
        try:
            await steps
        except BaseException as exc:  # a cancelled activity surfaces as an ActivityError
            if not is_cancelled_exception(exc):
                raise
        await self._goals.flush()

    def _adopt(self, event: Event) -> None:
        """The customer this journey ran for turned out to be another id of a known customer
        (journeys/customers/identity.py): carry on as them. Sends go to their address from now on."""
        known = str(event.properties["customer_id"])
        workflow.logger.info("journey %s: customer %s is now %s", self.spec.name, self._customer_id, known)
        self._customer_id = known
        profile = event.properties.get("customer")
        self._customer = Customer.model_validate(profile) if profile else None
        workflow.upsert_search_attributes([sa.CUSTOMER_ID.value_set(known)])

    def _on_goal(self, event: Event) -> None:
        if self._goals.reached(event) and self._exit_event is None:
            self._exit_event = event


__all__ = ["Journey", "JourneySpec", "Reentry", "journey", "workflow_id", "choose_variant", "Event", "ApplicationError"]
