"""A journey that exits (or is cancelled) while its send is out ends as exited, and the
send's row ends final: sent if the ESP had it, cancelled if it was still waiting. On the
real dev server, where the activity really is cancelled."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from journeys.consent.policy import SendPolicy
from journeys.contracts.journey_io import JourneyResult
from journeys.testkit import running_journeys
from journeys.testkit.capture import CaptureSender
from workflows.registry import discover

TEMPLATES = Path(__file__).parent / "policy_templates"


@pytest.mark.parametrize(("where", "ends"), [("the ESP call", "sent"), ("a policy check that defers", "cancelled")])
async def test_an_exit_during_a_send_ends_the_journey_as_exited(
    dev_server: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, ends: str
) -> None:
    settings: dict[str, Any] = {}
    if where == "the ESP call":
        send = CaptureSender.send

        async def slow_esp(self: CaptureSender, email: Any) -> str:
            await asyncio.sleep(0.6)
            return await send(self, email)

        monkeypatch.setattr(CaptureSender, "send", slow_esp)
    else:
        check = SendPolicy.check

        async def slow_database(self: SendPolicy, *args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0.6)
            return await check(self, *args, **kwargs)

        monkeypatch.setattr(SendPolicy, "check", slow_database)
        settings["quiet_hours"] = "00:00-23:59"
    registry = discover("tests.workflows.policy_journeys")
    async with running_journeys(dev_server, registry, tmp_path, templates_dir=TEMPLATES, frequency_cap_24h=0, frequency_cap_7d=0, **settings) as kit:
        await kit.customer("c1", email="c1@example.com")
        await kit.emit("flash_sale.started", customer="c1", settle=False)
        await asyncio.sleep(0.3)
        await kit.emit("flash_sale.ended", customer="c1", settle=False)
        handle = dev_server.client.get_workflow_handle("journey:flash_sale:c1", result_type=JourneyResult)
        result = await asyncio.wait_for(handle.result(), 30)
        assert result.outcome == "exited"
        [message] = await kit.messages("c1")
        assert message.status == ends, (message.status, message.reason)
        assert kit.sent_to("c1") == (["promo"] if ends == "sent" else [])


async def test_a_goal_reached_while_the_send_finishes_ends_the_journey_and_is_counted(
    dev_server: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The goal (an exit) comes while the ESP still has the email: the send completes (it
    cannot be taken back), and the journey must not go on to its week-long wait. It ends
    exited, and its figures say so: not active, exited on the goal, converted once."""
    from journeys.analytics.report import figures

    send = CaptureSender.send
    in_esp = asyncio.Event()

    async def slow_esp(self: CaptureSender, email: Any) -> str:
        in_esp.set()
        await asyncio.sleep(0.8)
        return await send(self, email)

    monkeypatch.setattr(CaptureSender, "send", slow_esp)
    registry = discover("tests.workflows.engine_journeys")
    async with running_journeys(dev_server, registry, tmp_path) as kit:
        await kit.customer("g1", email="g1@example.com")
        await kit.emit("promo.shown", customer="g1", settle=False)
        await asyncio.wait_for(in_esp.wait(), 30)
        await kit.emit("promo.bought", customer="g1", settle=False)
        handle = dev_server.client.get_workflow_handle("journey:promo:g1", result_type=JourneyResult)
        result = await asyncio.wait_for(handle.result(), 30)
        assert (result.outcome, result.exit_event_type) == ("exited", "promo.bought")
        [message] = await kit.messages("g1")
        assert message.status == "sent"
        report = await figures(kit.db, "promo", None, None, min_sample=1)
        assert (report.entered, report.active, report.completed) == (1, 0, 0)
        assert report.exited == {"promo.bought": 1} and report.converted == {"promo.bought": 1}
