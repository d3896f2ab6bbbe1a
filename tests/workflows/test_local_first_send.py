"""A send's first attempt runs in the workflow task that asked for it (engine version 2,
workflows/activity_calls.py): what happens when that attempt fails, and which runs keep
the older way."""

from __future__ import annotations

from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from journeys.providers.base import OutgoingEmail, TransientSendError
from journeys.testkit import JourneyEnv, running_journeys
from workflows.registry import discover


async def kinds_of(kit: JourneyEnv, workflow_id: str) -> list[str]:
    history = await kit.env.client.get_workflow_handle(workflow_id).fetch_history()
    return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events]


async def test_a_refused_first_attempt_is_retried_by_temporal_and_sent_once(journey_env: JourneyEnv) -> None:
    capture = journey_env.outbox.send
    calls: list[str] = []

    async def refuse_once(email: OutgoingEmail) -> str:
        calls.append(email.message_id)
        if len(calls) == 1:
            raise TransientSendError("421 try again later")
        return await capture(email)

    journey_env.outbox.send = refuse_once  # type: ignore[method-assign]
    await journey_env.customer("ivy")
    await journey_env.emit("user.signed_up", customer="ivy")
    await journey_env.advance(seconds=5)  # the pause before Temporal's first retry
    assert journey_env.sent_to("ivy") == ["welcome"]
    assert len(calls) == 2 and calls[0] == calls[1]  # the same message, asked twice, out once
    [row] = [m for m in await journey_env.messages("ivy") if m.template == "welcome"]
    assert row.status == "sent" and [h["status"] for h in row.history] == ["sending", "retrying", "sending", "sent"]
    kinds = await kinds_of(journey_env, "journey:welcome:ivy")
    # The local attempt's marker, the pause, then a Temporal activity with its own retries.
    first = kinds.index("MARKER_RECORDED")
    assert kinds.index("TIMER_STARTED", first) < kinds.index("ACTIVITY_TASK_SCHEDULED") < kinds.index("ACTIVITY_TASK_COMPLETED")


async def test_a_first_attempt_that_sends_needs_no_activity_task(journey_env: JourneyEnv) -> None:
    await journey_env.customer("jon")
    await journey_env.emit("user.signed_up", customer="jon")
    assert journey_env.sent_to("jon") == ["welcome"]
    kinds = await kinds_of(journey_env, "journey:welcome:jon")
    assert "ACTIVITY_TASK_SCHEDULED" not in kinds and "MARKER_RECORDED" in kinds, kinds


async def test_runs_started_at_engine_1_keep_sending_through_an_activity(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A rolling upgrade holds JOURNEYS_ENGINE_VERSION at 1 while older workers are about:
    their runs must look as those workers would make them (the saved engine1 histories
    replay for the same reason)."""
    async with running_journeys(time_skipping_env, discover(), tmp_path, engine_version=1) as kit:
        await kit.customer("kim")
        await kit.emit("user.signed_up", customer="kim")
        assert kit.sent_to("kim") == ["welcome"]
        kinds = await kinds_of(kit, "journey:welcome:kim")
        assert kinds.count("ACTIVITY_TASK_SCHEDULED") == 1 and "MARKER_RECORDED" not in kinds, kinds
