"""Dead letters over HTTP: listed, retried, discarded, counted in /healthz."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.journeys.operations.test_dead_letters import dead_event, dead_message


async def test_dead_letters_are_listed_retried_and_discarded_over_http(api: httpx.AsyncClient, api_app: FastAPI) -> None:
    db = api_app.state.journeys.db
    event = await dead_event(db)
    message = await dead_message(db, "m1", "failed")
    assert (await api.get("/healthz")).json()["dead_letters"] == 2

    listed = (await api.get("/v1/dead-letters")).json()
    assert [d["id"] for d in listed] == [message, event]
    assert [d["id"] for d in (await api.get("/v1/dead-letters", params={"kind": "event"})).json()] == [event]

    retried = await api.post(f"/v1/dead-letters/{event}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "retried"
    assert (await api.get("/healthz")).json()["events_waiting_for_dispatch"] >= 1, "back in the outbox"

    assert (await api.post(f"/v1/dead-letters/{message}/discard")).json()["status"] == "discarded"
    assert (await api.get("/v1/dead-letters")).json() == []
    assert (await api.get("/healthz")).json()["dead_letters"] == 0


async def test_unknown_or_malformed_ids_are_clear_errors(api: httpx.AsyncClient) -> None:
    missing = await api.post("/v1/dead-letters/e424242/retry")
    assert missing.status_code == 404 and "no unresolved dead letter 'e424242'" in missing.json()["detail"]
    malformed = await api.post("/v1/dead-letters/x%22y/discard")
    assert malformed.status_code == 422 and malformed.json()["detail"][0]["loc"] == ["path", "letter_id"]
    assert (await api.get("/v1/dead-letters", params={"kind": "parcel"})).status_code == 422
    # An event id past the outbox's 64-bit ids names nothing: not a database overflow (500).
    for beyond in ("e9223372036854775808", "e" + "9" * 40):
        for action in ("retry", "discard"):
            answer = await api.post(f"/v1/dead-letters/{beyond}/{action}")
            assert answer.status_code == 404, (beyond, action, answer.text)


async def test_dead_letters_need_the_api_key(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/dead-letters", headers={"Authorization": ""})).status_code == 401
