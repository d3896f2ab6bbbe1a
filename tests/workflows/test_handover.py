"""A journey that loops for ever hands over with bounded baggage: the ids it has seen and
the events no wait took stay within limits however many hand-overs and events come, and
nothing it must still count twice is counted twice. On the real dev server (the
time-skipping server mishandles signals during continue-as-new)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from journeys.contracts.journey_io import JourneyInput
from journeys.storage.temporal import DATA_CONVERTER
from journeys.testkit import running_journeys
from workflows import handover
from workflows.registry import Registry, discover


@pytest.fixture(scope="module")
def journey_registry() -> Registry:
    return discover("tests.workflows.engine_journeys")


async def current_input(env: WorkflowEnvironment, workflow_id: str) -> tuple[JourneyInput, int]:
    """The running run's start input, and its size as Temporal stored it."""
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0]
    assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    [payload] = started.workflow_execution_started_event_attributes.input.payloads
    return DATA_CONVERTER.payload_converter.from_payload(payload, JourneyInput), payload.ByteSize()


async def test_a_journey_over_many_hand_overs_carries_bounded_state(
    dev_server: WorkflowEnvironment, journey_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handover, "MAX_CARRIED_SEEN", 60)
    monkeypatch.setattr(handover, "MAX_CARRIED_INBOX", 15)
    async with running_journeys(dev_server, journey_registry, tmp_path) as kit:
        await kit.customer("f1")
        await kit.emit("feed.started", customer="f1")
        sizes = []
        for round in range(12):
            for n in range(25):
                await kit.emit("feed.noise", customer="f1", id=f"noise-{round}-{n}", settle=False)
            await kit.emit("feed.tick", customer="f1", id=f"tick-{round}", settle=False)
            await kit.settle()
            if round >= 6:
                sizes.append((await current_input(dev_server, "journey:feed:f1"))[1])
        state = await kit.state("f1", "feed")
        assert state.runs >= 6, "it handed over again and again"
        assert state.data["ticks"] == 12, "no tick lost across the hand-overs"
        carried = (await current_input(dev_server, "journey:feed:f1"))[0].carried
        assert carried is not None
        assert len(carried.inbox) <= 15 and len(carried.seen_ids) <= 60
        assert carried.inbox[-1].id.startswith("noise-"), "the newest noise is what is kept"
        assert max(sizes) < 2 * min(sizes), f"the carried input does not grow with the journey's age: {sizes}"
        assert max(sizes) < handover.MAX_INPUT_BYTES

        await kit.emit("feed.tick", customer="f1", id="tick-11")  # a redelivery of the latest tick
        assert (await kit.state("f1", "feed")).data["ticks"] == 12, "recently seen ids still count once"
        await kit.emit("feed.stopped", customer="f1")
