"""Dispatch's re-entry records on SQLite and PostgreSQL, against the real dev server."""

import uuid

from temporalio.testing import WorkflowEnvironment

from journeys.storage.database import Database
from journeys.dispatch.dispatcher import Delivery, Dispatcher
from journeys.contracts.events import Event
from workflows.registry import discover


async def test_never_admits_one_entry_even_when_retried(db: Database, dev_server: WorkflowEnvironment) -> None:
    dispatcher = Dispatcher(dev_server.client, discover("tests.workflows.engine_journeys"), db, "dispatch-test")
    customer = f"n-{uuid.uuid4().hex[:8]}"
    first = Event(id=f"{customer}-1", type="vip.granted", customer_id=customer)
    wid = f"journey:once_only:{customer}"
    [entered] = await dispatcher.dispatch(first)
    assert (entered.workflow_id, entered.how) == (wid, "start") and entered.run_id
    retried = await dispatcher.dispatch(first)
    assert retried == [Delivery(wid, "start", entered.run_id)], "a relay retry of the same event reaches the same run"
    second = Event(id=f"{customer}-2", type="vip.granted", customer_id=customer)
    assert await dispatcher.dispatch(second) == []
    await dev_server.client.get_workflow_handle(wid).terminate("test done")


async def test_keyed_runs_are_found_again_for_events_without_the_key(db: Database, dev_server: WorkflowEnvironment) -> None:
    dispatcher = Dispatcher(dev_server.client, discover("tests.workflows.engine_journeys"), db, "dispatch-test")
    customer = f"k-{uuid.uuid4().hex[:8]}"
    for cart in ("a", "b"):
        await dispatcher.dispatch(
            Event(id=f"{customer}-{cart}", type="basket.abandoned", customer_id=customer, properties={"cart_id": cart})
        )
    no_key = Event(id=f"{customer}-order", type="basket.ordered", customer_id=customer)
    reached = await dispatcher.dispatch(no_key)
    assert sorted(d.workflow_id for d in reached) == [f"journey:per_basket:{customer}:a", f"journey:per_basket:{customer}:b"]
    keyless_trigger = Event(id=f"{customer}-x", type="basket.abandoned", customer_id=customer)
    assert await dispatcher.dispatch(keyless_trigger) == [], "a keyed journey needs its key to start"
    for d in reached:
        await dev_server.client.get_workflow_handle(d.workflow_id).terminate("test done")


async def test_the_widest_ids_and_keys_enter_and_are_found_again(db: Database, dev_server: WorkflowEnvironment) -> None:
    """A 200-character customer id and a key of 5,000 characters: the entry is recorded
    (PostgreSQL once refused the workflow id and the key, for ever, blocking the customer)
    and a later event without the key still reaches the run."""
    dispatcher = Dispatcher(dev_server.client, discover("tests.workflows.engine_journeys"), db, "dispatch-test")
    customer = f"w-{uuid.uuid4().hex[:8]}" + "w" * 190
    cart = "c" * 5000
    [entered] = await dispatcher.dispatch(
        Event(id=f"{customer[:20]}-a", type="basket.abandoned", customer_id=customer, properties={"cart_id": cart})
    )
    assert entered.how == "start" and len(entered.workflow_id.encode()) <= 1000
    [reached] = await dispatcher.dispatch(Event(id=f"{customer[:20]}-o", type="basket.ordered", customer_id=customer))
    assert reached.workflow_id == entered.workflow_id
    await dev_server.client.get_workflow_handle(entered.workflow_id).terminate("test done")
