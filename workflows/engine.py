"""The journey engine: the ``Journey`` base class every journey extends.

A journey is a Temporal workflow, one per customer and journey, with the id
``journey:{journey}:{customer_id}``. Every event for it arrives through one signal and
lands in an **inbox**; ``wait_for`` consumes from the inbox, so an event that arrived
before the wait began is never missed. An ``exit_on`` event ends the journey wherever
it is, by cancelling the steps (timers and activities included). How a journey is
declared (``@journey``) lives in workflows/definition.py; both are imported from here.

This module runs inside Temporal's workflow sandbox: no I/O, no wall clock, no randomness.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from journeys.contracts.activity_io import (
        CANCEL_DEFERRED,
        DELIVER,
        LOAD_CUSTOMER,
        RECORD_CONVERSION,
        RECORD_SPLIT,
        CancelDeferredInput,
        DeliverInput,
        DeliverResult,
        IfCapped,
        LoadCustomerInput,
        LoadCustomerResult,
        RecordConversionInput,
        RecordSplitInput,
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
    from workflows.variants import choose_variant

Where = dict[str, Any] | Callable[[Event], bool] | None


def _matcher(where: Where) -> Callable[[Event], bool]:
    if where is None:
        return lambda _: True
    if callable(where):
        return where
    expected = dict(where)
    return lambda event: all(event.properties.get(k) == v for k, v in expected.items())


DELIVER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["TemplateError"],
)


class Journey:
    """Base class of every journey. Subclasses implement ``steps``."""

    spec: ClassVar[JourneySpec]
    # checkpoint() continues-as-new past this many history events (Temporal suggests it at
    # 4,096 and refuses more than 51,200); a journey may lower it.
    max_history_events: ClassVar[int] = 2_000
    # What a marketing send held by the frequency cap does, unless send() says otherwise:
    # "skip" (logged as capped) or "wait" for the next free slot.
    if_capped: ClassVar[IfCapped] = "skip"

    def __init__(self) -> None:
        self._inbox: list[Event] = []
        self._seen_ids: set[str] = set()
        self._trigger: Event | None = None
        self._exit_event: Event | None = None
        self._customer_id = ""
        self._customer: Customer | None = None
        self._step = "waiting for trigger"
        self._waiting_for: list[str] = []
        self._until: datetime | None = None
        self._busy = 0
        self._finished = False
        self._send_counts: dict[str, int] = {}
        self._sent: list[str] = []
        self._runs = 1
        self._key: str | None = None
        # The journey's own data, JSON-serialisable; carried across continue-as-new.
        self.state: dict[str, Any] = {}
        self._variants: dict[str, str] = {}
        self._goals: dict[str, bool] = {}  # goal event type -> ends the journey
        self._converted: list[str] = []
        # Goal events not yet in the database; one leaves the list once recorded.
        self._conversions_due: list[Event] = []
        self._goal_task: asyncio.Task[None] | None = None

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
        self._busy += 1
        try:
            result = await workflow.execute_local_activity(
                LOAD_CUSTOMER,
                LoadCustomerInput(customer_id=self._customer_id),
                result_type=LoadCustomerResult,
                start_to_close_timeout=timedelta(seconds=30),
            )
        finally:
            self._busy -= 1
        self._customer = result.customer
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
        self,
        event_types: Iterable[str],
        *,
        where: Where = None,
        timeout: timedelta | None = None,
        step: str | None = None,
    ) -> Event | None:
        """The first event of any of ``event_types`` (same rules as ``wait_for``)."""
        types = frozenset(event_types)
        matches = _matcher(where)
        if self._peek(types, matches) is None:
            label = step or "wait:" + "|".join(sorted(types))
            self._set_step(label, waiting_for=sorted(types), timeout=timeout)
            try:
                await workflow.wait_condition(lambda: self._peek(types, matches) is not None, timeout=timeout)
            except asyncio.TimeoutError:
                return None
        return self._take(types, matches)

    async def split(self, name: str, variants: dict[str, int]) -> str:
        """A/B split: this customer's variant, by weight, e.g. ``{"short": 50, "long": 50}``.

        Deterministic (the same customer gets the same variant of the same split, entry
        after entry) and recorded in the database for the results.
        """
        if name in self._variants:
            return self._variants[name]
        variant = choose_variant(self.spec.name, name, self._customer_id, variants)
        self._variants[name] = variant
        assert self._trigger is not None
        await workflow.execute_local_activity(
            RECORD_SPLIT,
            RecordSplitInput(
                journey=self.spec.name, customer_id=self._customer_id, entry_id=self._trigger.id, split=name, variant=variant
            ),
            start_to_close_timeout=timedelta(seconds=30),
        )
        return variant

    def goal(self, event_type: str, *, exit: bool = False) -> None:
        """From here on, an ``event_type`` event is a conversion: recorded once per entry with
        the customer's split variants. ``exit=True`` also ends the journey when it comes."""
        self._goals[event_type] = exit
        already = self._peek(frozenset([event_type]))
        if already is not None:
            self._on_goal(already)
        if self._goal_task is None:
            self._goal_task = asyncio.create_task(self._record_conversions())

    async def checkpoint(self) -> None:
        """Continue-as-new if the history has grown large; call it once per loop iteration.

        The next run calls ``steps`` again from the top with the same trigger, and with
        ``self.state``, the inbox, the ids of events already seen and the send counters
        carried over: no event is lost or handled twice, no email sent twice. Code before
        the loop should therefore look at ``self.state`` to skip what was done.
        """
        info = workflow.info()
        if info.get_current_history_length() < self.max_history_events and not info.is_continue_as_new_suggested():
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
        await workflow.wait_condition(lambda: not self._conversions_due)
        assert self._trigger is not None
        carried = Carried(
            trigger=self._trigger,
            inbox=self._inbox,
            seen_ids=sorted(self._seen_ids),
            send_counts=self._send_counts,
            sent=self._sent,
            data=self.state,
            runs=self._runs + 1,
            variants=self._variants,
            goals=self._goals,
            converted=self._converted,
        )
        workflow.logger.info("journey %s continues as new (run %d)", self.spec.name, carried.runs)
        workflow.continue_as_new(
            JourneyInput(
                journey=self.spec.name,
                customer_id=self._customer_id,
                customer=self._customer,
                key=self._key,
                carried=carried,
            )
        )

    async def sleep(self, duration: timedelta, *, step: str | None = None) -> None:
        """A durable timer. ``step`` names it for operators; default ``sleep:<duration>``."""
        self._set_step(step or f"sleep:{_human(duration)}", timeout=duration)
        await workflow.sleep(duration)

    async def sleep_until(self, moment: datetime, *, step: str | None = None) -> None:
        """Sleep until an aware datetime, e.g. ``self.next_local_time(9)``; past moments return at once."""
        if moment.tzinfo is None:
            raise ValueError("sleep_until needs an aware datetime (use self.next_local_time(...))")
        duration = moment - workflow.now()
        if duration <= timedelta(0):
            return
        label = step or f"sleep-until:{moment.astimezone(timezone.utc).isoformat(timespec='minutes')}"
        self._set_step(label, timeout=duration)
        await workflow.sleep(duration)

    def next_local_time(self, hour: int, minute: int = 0) -> datetime:
        """The next hour:minute on the customer's wall clock (their time zone), as an aware datetime.

        Across a daylight-saving change the local time is kept (09:00 stays 09:00).
        """
        zone = ZoneInfo(self.customer.timezone or "UTC")
        local_now = workflow.now().astimezone(zone)
        candidate = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if candidate <= local_now:
            candidate = (local_now + timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)
        # Re-localise: the +1 day may cross a DST change, and replace() keeps the old offset.
        naive = candidate.replace(tzinfo=None)
        return naive.replace(tzinfo=zone)

    async def send(
        self, template: str, *, context: dict[str, Any] | None = None, if_capped: IfCapped | None = None
    ) -> DeliverResult:
        """Render ``template`` for this customer and send it, exactly once per journey step.

        The send policy decides first, whatever the journey does: suppressed, unsubscribed
        and capped sends are not sent (the result says so, and why); a marketing send in the
        customer's quiet hours, or held by the cap with ``if_capped="wait"``, waits here on
        a durable timer and then goes.
        """
        count = self._send_counts[template] = self._send_counts.get(template, 0) + 1
        step = f"send:{template}" if count == 1 else f"send:{template}#{count}"
        # JourneyStep (the search attribute) says where customers *wait*; a send in
        # progress shows in the Temporal UI as the pending activity, retries and all.
        # Skipping the upsert saves a visibility write per email.
        self._set_step(step, searchable=False)
        assert self._trigger is not None
        key = f"{workflow.info().workflow_id}/{self._trigger.id}/{step}"
        request = DeliverInput(
            idempotency_key=key,
            customer_id=self._customer_id,
            template=template,
            context=context or {},
            journey=self.spec.name,
            step=step,
            if_capped=if_capped or self.if_capped,
        )
        deferred = False
        try:
            while True:
                result = await self._deliver(request.model_copy(update={"customer_id": self._customer_id}), template)
                if result.status != "deferred" or result.until is None:
                    break
                deferred = True
                label = "quiet-hours" if result.deferred_for == "quiet hours" else "capped"
                await self.sleep_until(result.until, step=f"{label}:{template}")
        except asyncio.CancelledError:
            if deferred:  # the journey ended while this send waited: the log says so
                await workflow.execute_local_activity(
                    CANCEL_DEFERRED,
                    CancelDeferredInput(idempotency_key=key, reason="the journey ended before the deferred send"),
                    start_to_close_timeout=timedelta(seconds=30),
                )
            raise
        if result.status == "sent":
            self._sent.append(template)
        return result

    async def _deliver(self, request: DeliverInput, template: str) -> DeliverResult:
        self._busy += 1
        try:
            result = await workflow.execute_activity(
                DELIVER,
                request,
                result_type=DeliverResult,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=DELIVER_RETRY,
                summary=f"send {template}",
            )
        finally:
            self._busy -= 1
        if result.customer is not None:
            self._customer = result.customer
        return result

    # ----- signals and queries --------------------------------------------------------------

    @workflow.signal(name=SIGNAL_EVENT)
    def _receive(self, event: Event) -> None:
        # Dispatch may deliver an event more than once (relay retries): dedupe by id.
        if event.id in self._seen_ids:
            return
        self._seen_ids.add(event.id)
        if event.type == MERGED_EVENT:
            self._adopt(event)
            return
        if self._trigger is not None and event.type in self._goals:
            self._on_goal(event)
        if self._trigger is not None and event.type in self.spec.exit_on:
            if self._exit_event is None:
                self._exit_event = event
            return
        self._inbox.append(event)

    @workflow.query(name=QUERY_STATE)
    def _state(self) -> JourneyState:
        return JourneyState(
            journey=self.spec.name,
            customer_id=self._customer_id,
            step=self._step,
            waiting_for=self._waiting_for,
            until=self._until,
            events_received=len(self._seen_ids),
            busy=self._busy > 0,
            finished=self._finished,
            sent=self._sent,
            data=self.state,
            runs=self._runs,
            variants=self._variants,
            converted=self._converted,
        )

    # ----- the engine -----------------------------------------------------------------------

    async def _run(self, input: JourneyInput) -> JourneyResult:
        if not self._customer_id:  # else a merge signal before this task already told us who
            self._customer_id, self._customer = input.customer_id, input.customer
        self._key = input.key
        if input.carried is not None:
            trigger = input.carried.trigger
            after_trigger = self._resume(input.carried)
        else:
            await workflow.wait_condition(lambda: self._peek(self.spec.triggers) is not None)
            trigger = self._peek(self.spec.triggers)  # type: ignore[assignment]
            position = self._inbox.index(trigger)
            self._inbox.remove(trigger)
            after_trigger = self._inbox[position:]
            workflow.logger.info("journey %s entered by %s (%s)", self.spec.name, trigger.type, trigger.id)
        self._trigger = trigger
        # Signals that came after the trigger but before this task went to the inbox, exits
        # included (the trigger was not known yet): such an exit still ends the journey.
        exit_event = next((e for e in after_trigger if e.type in self.spec.exit_on), None)
        if exit_event is not None and self._exit_event is None:
            self._inbox.remove(exit_event)
            self._exit_event = exit_event

        steps = asyncio.create_task(self.steps(trigger))
        try:
            await workflow.wait_condition(lambda: steps.done() or self._exit_event is not None)
        except asyncio.CancelledError:
            # Cancelled from outside (DELETE .../journeys/{j}): end the steps the way an exit
            # does, so a waiting send is logged cancelled and conversions are recorded.
            await self._stop(steps)
            raise
        if not steps.done():
            exit_event = self._exit_event
            assert exit_event is not None
            await self._stop(steps)
            self._finish(f"exited on {exit_event.type}")
            workflow.logger.info("journey %s exited on %s", self.spec.name, exit_event.type)
            return JourneyResult(outcome="exited", exit_event_type=exit_event.type, sent=self._sent)
        steps.result()  # a bug in journey code surfaces here, as a failed workflow task
        await self._flush_conversions()
        self._finish("completed")
        return JourneyResult(outcome="completed", sent=self._sent)

    def _resume(self, carried: Carried) -> list[Event]:
        """Take over the previous run's state; returns the events that arrived in between."""
        # Signals that reached this run before its first task are already in the inbox:
        # put the carried events first, and drop any this journey has seen before.
        seen_before = set(carried.seen_ids)
        arrived = [e for e in self._inbox if e.id not in seen_before]
        self._inbox = list(carried.inbox) + arrived
        self._seen_ids |= seen_before
        self._send_counts = dict(carried.send_counts)
        self._sent = list(carried.sent)
        self.state = dict(carried.data)
        self._runs = carried.runs
        self._variants = dict(carried.variants)
        self._converted = list(carried.converted)
        for goal_type, ends in carried.goals.items():
            self.goal(goal_type, exit=ends)
        return arrived

    async def _stop(self, steps: asyncio.Task[None]) -> None:
        steps.cancel()
        try:
            await steps
        except asyncio.CancelledError:
            pass
        await self._flush_conversions()

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
        if event.type in self._converted:
            return
        self._converted.append(event.type)
        self._conversions_due.append(event)
        if self._goals.get(event.type) and self._exit_event is None:
            self._exit_event = event

    async def _record_conversions(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._conversions_due))
            event = self._conversions_due[0]
            assert self._trigger is not None
            await workflow.execute_local_activity(
                RECORD_CONVERSION,
                RecordConversionInput(
                    journey=self.spec.name,
                    customer_id=self._customer_id,
                    entry_id=self._trigger.id,
                    goal=event.type,
                    event_id=event.id,
                    variants=self._variants,
                ),
                start_to_close_timeout=timedelta(seconds=30),
            )
            self._conversions_due.pop(0)

    async def _flush_conversions(self) -> None:
        """Before the journey ends: every conversion it saw is in the database."""
        if self._goal_task is not None:
            await workflow.wait_condition(lambda: not self._conversions_due)
            self._goal_task.cancel()

    def _peek(self, types: frozenset[str], matches: Callable[[Event], bool] = lambda _: True) -> Event | None:
        return next((e for e in self._inbox if e.type in types and matches(e)), None)

    def _take(self, types: frozenset[str], matches: Callable[[Event], bool] = lambda _: True) -> Event | None:
        event = self._peek(types, matches)
        if event is not None:
            self._inbox.remove(event)
        return event

    def _set_step(
        self,
        step: str,
        *,
        waiting_for: list[str] | None = None,
        timeout: timedelta | None = None,
        searchable: bool = True,
    ) -> None:
        self._step = step
        self._waiting_for = waiting_for or []
        self._until = workflow.now() + timeout if timeout is not None else None
        if searchable:
            workflow.upsert_search_attributes([sa.JOURNEY_STEP.value_set(step)])

    def _finish(self, step: str) -> None:
        self._finished = True
        self._set_step(step)


def _human(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


__all__ = ["Journey", "JourneySpec", "Reentry", "journey", "workflow_id", "choose_variant", "Event", "ApplicationError"]
