"""Step 3 of an event's life: hand it to the journeys that care (DESIGN.md).

A journey *triggered* by the event type gets signal-with-start on its deterministic id,
so the first event starts it and later ones reach the running one. A running journey
that *listens* to the type (exit_on, wait_for) gets a plain signal; if none runs, there
is nobody to tell and that is fine. Journeys dedupe by event id, so delivering twice
(the relay retrying after a crash) is harmless.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from core import search_attributes as sa
from core.customers import Customer
from core.events import Event
from core.journey_models import SIGNAL_EVENT, JourneyInput
from workflows.engine import JourneySpec, workflow_id
from workflows.registry import Registry


async def dispatch_event(
    client: Client, registry: Registry, event: Event, task_queue: str, customer: Customer | None = None
) -> int:
    """Deliver one event to every journey it concerns; returns how many journeys it reached.

    ``customer`` (the profile, if known) goes into the start input of journeys it starts.
    """
    route = registry.route(event.type)
    results = await asyncio.gather(
        *[_start_or_signal(client, spec, event, task_queue, customer) for spec in route.starts],
        *[_signal_if_running(client, spec, event) for spec in route.signals],
    )
    return sum(results)


async def _start_or_signal(
    client: Client, spec: JourneySpec, event: Event, task_queue: str, customer: Customer | None
) -> int:
    await client.start_workflow(
        spec.name,
        JourneyInput(journey=spec.name, customer_id=event.customer_id, customer=customer),
        id=workflow_id(spec.name, event.customer_id),
        task_queue=task_queue,
        start_signal=SIGNAL_EVENT,
        start_signal_args=[event],
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.CUSTOMER_ID, event.customer_id),
                SearchAttributePair(sa.JOURNEY, spec.name),
                SearchAttributePair(sa.JOURNEY_STEP, "starting"),
            ]
        ),
    )
    return 1


async def _signal_if_running(client: Client, spec: JourneySpec, event: Event) -> int:
    try:
        await client.get_workflow_handle(workflow_id(spec.name, event.customer_id)).signal(SIGNAL_EVENT, event)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return 0  # not in that journey (or it already finished)
        raise
    return 1
