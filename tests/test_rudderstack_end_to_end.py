"""RudderStack's Python SDK (rudder-sdk-python, a common Segment-compatible client) pointed
at Journeys: its identify puts traits in ``context.traits``, and the welcome still goes
to the address given there.

Real parts throughout: the SDK (its background thread, batches, gzip), the API on
loopback, the Temporal dev server, the worker, the SMTP mail catcher.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rudderstack.analytics.client import Client as RudderClient
from temporalio.testing import WorkflowEnvironment

from tests.conftest import wait_until
from tests.live_stack import API_KEY, live_stack


async def test_identify_traits_in_the_context_reach_the_profile_and_the_welcome_goes_out(
    dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    errors: list[Exception] = []
    async with live_stack(dev_server, tmp_path) as stack:
        sdk = RudderClient(
            write_key=API_KEY, host=stack.base_url, gzip=True, max_retries=1, on_error=lambda exc, batch: errors.append(exc)
        )
        try:
            sdk.identify("rud-ann", {"email": "ann@example.com", "first_name": "Ann"}, context={"timezone": "Europe/Berlin"})
            sdk.track("rud-ann", "user.signed_up", {"plan": "pro"}, message_id="rud-signup-1")
            await asyncio.to_thread(sdk.flush)
            assert errors == []
            [mail] = await stack.wait_for_mail(1)
            assert mail.to == "ann@example.com" and mail.subject == "Welcome to Journeys, Ann!"
            async with stack.http() as http:
                profile = (await http.get("/v1/customers/rud-ann")).json()
                assert (profile["email"], profile["timezone"], profile["attributes"]) == (
                    "ann@example.com", "Europe/Berlin", {"first_name": "Ann"},
                )

                async def sent() -> bool:
                    logged = (await http.get("/v1/customers/rud-ann/messages")).json()
                    return [(m["template"], m["status"]) for m in logged] == [("welcome", "sent")]

                await wait_until(sent, what="the welcome logged as sent")
        finally:
            sdk.shutdown()
