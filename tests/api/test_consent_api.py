"""Subscriptions, the suppression list and one-off sends over the API."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlmodel import select

from journeys.storage.tables import DispatchRow, EventRow


async def test_subscriptions_default_to_subscribed_and_change_per_topic(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/customers/nobody/subscriptions")).status_code == 404
    await api.put("/v1/customers/ann", json={"email": "ann@example.com"})
    first = (await api.get("/v1/customers/ann/subscriptions")).json()
    assert first == {"customer_id": "ann", "all_marketing": True, "topics": {"offers": True, "product": True}, "suppressed": []}

    changed = await api.put("/v1/customers/ann/subscriptions", json={"topics": {"offers": False}})
    assert changed.status_code == 200 and changed.json()["topics"] == {"offers": False, "product": True}
    none = await api.put("/v1/customers/ann/subscriptions", json={"all_marketing": False})
    assert none.json()["all_marketing"] is False and none.json()["topics"]["offers"] is False


async def test_an_unknown_topic_is_refused_with_the_known_ones(api: httpx.AsyncClient) -> None:
    await api.put("/v1/customers/ann", json={"email": "ann@example.com"})
    answer = await api.put("/v1/customers/ann/subscriptions", json={"topics": {"ofers": False}})
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "topics", "ofers"] and "offers, product" in error["msg"]


async def test_suppressions_are_added_read_and_lifted_by_reason(api: httpx.AsyncClient) -> None:
    added = await api.post("/v1/suppressions", json={"email": "Ann@Example.com", "reason": "complaint"})
    assert added.status_code == 201
    assert added.json()["marketing_allowed"] is False and added.json()["transactional_allowed"] is True
    again = await api.post("/v1/suppressions", json={"email": "ann@example.com", "reason": "complaint"})
    assert again.status_code == 200  # the same address, normalised: nothing new
    bounced = await api.post("/v1/suppressions", json={"email": "ann@example.com", "reason": "hard_bounce"})
    assert bounced.json()["transactional_allowed"] is False
    assert [r["reason"] for r in bounced.json()["reasons"]] == ["complaint", "hard_bounce"]

    await api.put("/v1/customers/ann", json={"email": "ann@example.com"})
    assert (await api.get("/v1/customers/ann/subscriptions")).json()["suppressed"] == ["complaint", "hard_bounce"]

    lifted = await api.delete("/v1/suppressions/ann@example.com", params={"reason": "hard_bounce"})
    assert lifted.status_code == 200 and [r["reason"] for r in lifted.json()["reasons"]] == ["complaint"]
    read = (await api.get("/v1/suppressions/ANN@example.com")).json()
    assert read["suppressed"] is True and read["transactional_allowed"] is True


async def test_bad_suppression_input_is_a_422_naming_the_field(api: httpx.AsyncClient) -> None:
    bad_email = await api.post("/v1/suppressions", json={"email": "not an address"})
    assert bad_email.status_code == 422 and bad_email.json()["detail"][0]["loc"] == ["body", "email"]
    bad_reason = await api.post("/v1/suppressions", json={"email": "a@example.com", "reason": "annoyed"})
    assert bad_reason.status_code == 422 and bad_reason.json()["detail"][0]["loc"] == ["body", "reason"]
    no_reason = await api.delete("/v1/suppressions/a@example.com")
    assert no_reason.status_code == 422


async def test_a_one_off_send_is_stored_for_dispatch_once_per_id(api: httpx.AsyncClient, api_app: FastAPI) -> None:
    await api.put("/v1/customers/ann", json={"email": "ann@example.com"})
    body = {"id": "support-4711", "template": "getting_started", "context": {"ticket": 4711}}
    first = await api.post("/v1/customers/ann/messages", json=body)
    assert first.status_code == 202
    assert first.json() == {
        "id": "support-4711",
        "customer_id": "ann",
        "template": "getting_started",
        "duplicate": False,
        "workflow_id": "journey:message:ann:support-4711",
    }
    again = await api.post("/v1/customers/ann/messages", json=body)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    async with api_app.state.journeys.db.session() as session:
        [event] = (await session.exec(select(EventRow).where(EventRow.type == "journeys.message"))).all()
        assert event.properties["template"] == "getting_started" and event.properties["context"] == {"ticket": 4711}
        [pending] = (await session.exec(select(DispatchRow))).all()  # Temporal is away: waiting in the outbox
        assert pending.event_id == event.id


async def test_a_one_off_send_refuses_unknown_templates_and_customers(api: httpx.AsyncClient) -> None:
    await api.put("/v1/customers/ann", json={"email": "ann@example.com"})
    unknown = await api.post("/v1/customers/ann/messages", json={"id": "m1", "template": "nope"})
    [error] = unknown.json()["detail"]
    assert unknown.status_code == 422 and error["loc"] == ["body", "template"]
    assert "unknown template 'nope'" in error["msg"] and "welcome" in error["msg"]
    nobody = await api.post("/v1/customers/bob/messages", json={"id": "m1", "template": "welcome"})
    assert nobody.status_code == 404
    bad = await api.post("/v1/customers/ann/messages", json={"id": "m1", "template": "welcome", "if_capped": "later"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "if_capped"]


async def test_apps_cannot_send_the_engines_own_event_types(api: httpx.AsyncClient) -> None:
    one = await api.post("/v1/events", json={"id": "e1", "type": "journeys.message", "customer_id": "ann"})
    assert one.status_code == 422 and one.json()["detail"][0]["loc"] == ["body", "type"]
    batch = await api.post(
        "/v1/events",
        json={"events": [{"id": "e2", "type": "ok", "customer_id": "ann"}, {"id": "e3", "type": "journeys.x", "customer_id": "ann"}]},
    )
    assert batch.status_code == 422 and batch.json()["detail"][0]["loc"] == ["body", "events", 1, "type"]
