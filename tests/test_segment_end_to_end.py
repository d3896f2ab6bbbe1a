"""Segment's own SDK pointed at Journeys: calls start journeys and the email arrives over SMTP.

Real parts throughout: segment-analytics-python (its background thread, batches, gzip),
the API on loopback, the Temporal dev server, the worker, the SMTP mail catcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from segment.analytics.client import Client as SegmentClient
from temporalio.testing import WorkflowEnvironment

from tests.conftest import wait_until
from tests.live_stack import API_KEY, live_stack

POLICY_TEMPLATES = Path(__file__).parent / "workflows" / "policy_templates"


class Sdk:
    def __init__(self, host: str) -> None:
        self.errors: list[Exception] = []
        self.client = SegmentClient(
            write_key=API_KEY, host=host, gzip=True, max_retries=1, on_error=lambda exc, batch: self.errors.append(exc)
        )

    async def flush(self) -> None:
        await asyncio.to_thread(self.client.flush)
        assert self.errors == []


@pytest.fixture
def shutdown() -> Iterator[list[Sdk]]:
    made: list[Sdk] = []
    yield made
    for sdk in made:
        sdk.client.shutdown()


async def test_identify_and_track_from_the_sdk_send_the_welcome_email(
    dev_server: WorkflowEnvironment, tmp_path: Path, shutdown: list[Sdk]
) -> None:
    async with live_stack(dev_server, tmp_path) as stack:
        sdk = Sdk(stack.base_url)
        shutdown.append(sdk)
        sdk.client.identify("seg-ann", {"email": "ann@example.com", "first_name": "Ann"})
        sdk.client.track("seg-ann", "user.signed_up", {"plan": "pro"}, message_id="signup-1")
        sdk.client.track("seg-ann", "user.signed_up", {"plan": "pro"}, message_id="signup-1")  # a retry: once
        await sdk.flush()
        [mail] = await stack.wait_for_mail(1)
        assert mail.to == "ann@example.com" and mail.subject == "Welcome to Journeys, Ann!"
        assert "You are on the pro plan." in mail.text
        async with stack.http() as http:

            async def welcome_waiting():  # type: ignore[no-untyped-def]
                listed = (await http.get("/v1/customers/seg-ann/journeys")).json()
                return [j for j in listed if j["journey"] == "welcome" and j["step"] == "wait:user.activated"]

            await wait_until(welcome_waiting, what="the welcome journey past its send, waiting for user.activated")
            logged = (await http.get("/v1/customers/seg-ann/messages")).json()
            assert [(m["template"], m["status"]) for m in logged] == [("welcome", "sent")], "the retried track sent once"


async def test_a_journey_a_visitor_started_anonymously_carries_on_after_sign_up(
    dev_server: WorkflowEnvironment, tmp_path: Path, shutdown: list[Sdk]
) -> None:
    async with live_stack(
        dev_server, tmp_path, journey_packages="tests.segment_journeys", templates_dir=POLICY_TEMPLATES
    ) as stack:
        sdk = Sdk(stack.base_url)
        shutdown.append(sdk)
        sdk.client.track(anonymous_id="visitor-9", event="Product Viewed", properties={"sku": "mug"})
        await sdk.flush()
        async with stack.http() as http:

            async def waiting():  # type: ignore[no-untyped-def]
                listed = (await http.get("/v1/customers/visitor-9/journeys")).json()
                return listed if listed and listed[0]["step"] == "wait:checkout_started" else None

            await wait_until(waiting, what="the visitor's journey waiting for checkout")

            # Sign-up and checkout in one batch, as an app would send them.
            sdk.client.identify("cust-9", {"email": "dee@example.com"}, anonymous_id="visitor-9")
            sdk.client.track("cust-9", "Checkout Started")
            await sdk.flush()

            [mail] = await stack.wait_for_mail(1)
            assert mail.to == "dee@example.com" and mail.subject == "The receipt, cust-9"

            async def finished():  # type: ignore[no-untyped-def]
                listed = (await http.get("/v1/customers/cust-9/journeys")).json()
                return listed if listed and listed[0]["status"] == "completed" else None

            [journey] = await wait_until(finished, what="the journey completed, listed under the customer")
            assert journey["journey"] == "browse_abandon" and journey["sent"] == ["receipt"]
            [logged] = (await http.get("/v1/customers/cust-9/messages")).json()
            assert logged["status"] == "sent" and logged["journey"] == "browse_abandon"


async def test_the_readme_segment_example_runs_as_written(
    dev_server: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import segment.analytics as analytics

    # The example configures the SDK's module-level client: start this test with a fresh one
    # and put the module's settings back afterwards, whatever the example set.
    monkeypatch.setattr(analytics, "default_client", None)
    for setting in ("on_error", "write_key", "host"):
        monkeypatch.setattr(analytics, setting, getattr(analytics, setting))

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("<!-- segment-example:start -->", 1)[1].split("<!-- segment-example:end -->", 1)[0]
    code = block.split("```python", 1)[1].split("```", 1)[0]
    async with live_stack(dev_server, tmp_path) as stack:
        code = code.replace('"<your Journeys API key>"', repr(API_KEY)).replace('"http://127.0.0.1:8000"', repr(stack.base_url))
        failures: list[Exception] = []
        analytics.on_error = lambda exc, batch: failures.append(exc)
        try:
            await asyncio.to_thread(exec, compile(code, "README segment example", "exec"), {})
        finally:
            analytics.shutdown()
        assert failures == []
        [mail] = await stack.wait_for_mail(1)
        assert mail.to == "ann@example.com" and mail.subject == "Welcome to Journeys, Ann!"
