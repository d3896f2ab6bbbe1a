"""The welcome journey, on the time-skipping server."""

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from journeys.testkit import JourneyEnv


async def test_welcome_is_sent_at_once_and_greets_by_first_name(journey_env: JourneyEnv) -> None:
    await journey_env.customer("ann", email="ann@example.com", attributes={"first_name": "Ann"})
    await journey_env.emit("user.signed_up", customer="ann")

    assert journey_env.sent_to("ann") == ["welcome"]
    email = journey_env.emails_to("ann")[0]
    assert email.to == "ann@example.com"
    assert email.subject == "Welcome to Journeys, Ann!"
    assert "Hi Ann," in email.text and "Hi Ann," in email.html


async def test_greeting_falls_back_to_there_without_a_first_name(journey_env: JourneyEnv) -> None:
    await journey_env.customer("bob")
    await journey_env.emit("user.signed_up", customer="bob")
    assert journey_env.emails_to("bob")[0].subject == "Welcome to Journeys, there!"


async def test_getting_started_follows_when_not_activated_within_two_days(journey_env: JourneyEnv) -> None:
    await journey_env.customer("cat")
    await journey_env.emit("user.signed_up", customer="cat")
    await journey_env.advance(days=1, hours=23)
    assert journey_env.sent_to("cat") == ["welcome"]
    await journey_env.advance(hours=2)
    assert journey_env.sent_to("cat") == ["welcome", "getting_started"]  # two days skipped, not waited
    assert (await journey_env.state("cat", "welcome")).finished


async def test_activation_within_two_days_means_no_nudge(journey_env: JourneyEnv) -> None:
    await journey_env.customer("dan")
    await journey_env.emit("user.signed_up", customer="dan")
    await journey_env.advance(hours=5)
    await journey_env.emit("user.activated", customer="dan")
    await journey_env.advance(days=3)
    assert journey_env.sent_to("dan") == ["welcome"]
    assert (await journey_env.state("dan", "welcome")).finished


async def test_activation_that_arrives_before_the_wait_begins_is_still_seen(journey_env: JourneyEnv) -> None:
    await journey_env.customer("eve")
    # Both events land back to back: user.activated reaches the journey while it is still
    # sending the welcome email, before wait_for("user.activated") has begun.
    await journey_env.emit("user.signed_up", customer="eve", settle=False)
    await journey_env.emit("user.activated", customer="eve", settle=False)
    await journey_env.settle()
    await journey_env.advance(days=3)
    assert journey_env.sent_to("eve") == ["welcome"]


async def test_a_duplicate_event_id_sends_nothing_twice(journey_env: JourneyEnv) -> None:
    await journey_env.customer("fay")
    await journey_env.emit("user.signed_up", customer="fay", id="signup-fay")
    await journey_env.emit("user.signed_up", customer="fay", id="signup-fay")
    assert journey_env.sent_to("fay") == ["welcome"]


async def test_a_new_welcome_run_records_no_patch_markers_and_a_short_history(journey_env: JourneyEnv) -> None:
    """Runs started today have every engine behaviour by their input (workflows/versions.py):
    no patch marker, no TemporalChangeVersion upsert per customer, and the send's first
    attempt in the workflow task that asked for it (a local activity: one workflow task
    and no activity task per email). What the history of a welcome email holds, event by
    event, is what the benchmark's profile describes."""
    from temporalio.api.enums.v1 import EventType

    await journey_env.customer("eve", email="eve@example.com")
    await journey_env.emit("user.signed_up", customer="eve")
    assert journey_env.sent_to("eve") == ["welcome"]
    history = await journey_env.env.client.get_workflow_handle("journey:welcome:eve").fetch_history()
    kinds = [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events]
    markers = [e.marker_recorded_event_attributes.marker_name for e in history.events if e.HasField("marker_recorded_event_attributes")]
    assert "core_patch" not in markers, markers
    assert kinds.count("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES") == 1, kinds  # JourneyStep at the wait, nothing else
    assert markers == ["core_local_activity"], markers  # the send, with the entry in its transaction
    assert "ACTIVITY_TASK_SCHEDULED" not in kinds, kinds
    # One workflow task from the signal to the two-day wait (a later empty one is the time-
    # skipping server answering the test kit's query).
    assert kinds[: kinds.index("TIMER_STARTED") + 1] == [
        "WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED", "MARKER_RECORDED", "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", "TIMER_STARTED",
    ], " ".join(kinds)


async def test_runs_stamped_engine_0_during_a_rolling_upgrade_keep_the_old_markers_and_are_counted(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """JOURNEYS_ENGINE_VERSION=0 (workers of the older code still about): new runs are the
    kind those workers replay, with their patch markers and the entry's own local activity,
    and the entry is still counted once."""
    from journeys.analytics.report import figures
    from journeys.testkit import running_journeys
    from workflows.registry import discover

    async with running_journeys(time_skipping_env, discover("workflows.journeys"), tmp_path, engine_version=0) as kit:
        await kit.customer("old", email="old@example.com")
        await kit.emit("user.signed_up", customer="old")
        assert kit.sent_to("old") == ["welcome"]
        history = await time_skipping_env.client.get_workflow_handle("journey:welcome:old").fetch_history()
        markers = [e.marker_recorded_event_attributes.marker_name for e in history.events if e.HasField("marker_recorded_event_attributes")]
        assert markers.count("core_patch") >= 2 and "core_local_activity" in markers, markers
        report = await figures(kit.db, "welcome", None, None, min_sample=1)
        assert (report.entered, report.active) == (1, 1)
