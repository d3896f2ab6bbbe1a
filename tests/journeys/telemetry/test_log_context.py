"""The ids of the work at hand: bound for a block, nested, and private to each task."""

from __future__ import annotations

import asyncio

from journeys.telemetry import log_context


def test_bound_ids_nest_and_come_back() -> None:
    assert dict(log_context.current()) == {}
    with log_context.bound(event_id="e1", customer_id="ann"):
        with log_context.bound(workflow_id="journey:welcome:ann", customer_id=None):
            assert dict(log_context.current()) == {"event_id": "e1", "customer_id": "ann", "workflow_id": "journey:welcome:ann"}
        assert dict(log_context.current()) == {"event_id": "e1", "customer_id": "ann"}
    assert dict(log_context.current()) == {}


async def test_concurrent_tasks_never_see_each_others_ids() -> None:
    started = asyncio.Event()
    seen: dict[str, str | None] = {}

    async def work(message_id: str) -> None:
        with log_context.bound(message_id=message_id):
            if message_id == "m1":
                await started.wait()  # m2 binds its id while m1 is inside its block
            else:
                started.set()
            await asyncio.sleep(0)
            seen[message_id] = log_context.current().get("message_id")

    await asyncio.gather(work("m1"), work("m2"))
    assert seen == {"m1": "m1", "m2": "m2"}
    assert "message_id" not in log_context.current()


def test_a_batch_is_named_in_one_field_at_most_a_hundred_ids() -> None:
    assert log_context.joined(["e1", "e2", "e1", ""]) == "e1,e2"
    assert log_context.joined([]) is None
    many = log_context.joined(f"e{i}" for i in range(150))
    assert many is not None and many.startswith("e0,e1,") and many.endswith("e99,…") and many.count(",") == 100
    assert log_context.only(["ann", "ann"]) == "ann" and log_context.only(["ann", "bob"]) is None
