"""What Temporal would refuse is refused at intake, with the field's path, and nothing of
the request is stored: an answered 202 can always be dispatched."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from journeys.storage.tables import CustomerRow, EventRow

SIGNUP = {"id": "e1", "type": "user.signed_up", "customer_id": "c1"}


async def stored_ids(app: FastAPI) -> list[str]:
    async with app.state.journeys.db.session() as session:
        return sorted((await session.exec(select(EventRow.id))).all())


def raw(body: str) -> dict[str, object]:
    """A body sent byte for byte (httpx's json= would refuse NaN and lone surrogates)."""
    return {"content": body.encode(), "headers": {"Content-Type": "application/json"}}


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ('{"name": "ab\\ud800"}', "properties.name: a lone surrogate (\\ud800) at position 2 is not Unicode"),
        ('{"score": NaN}', "properties.score: nan is not a JSON number"),
        ('{"score": Infinity}', "properties.score: inf is not a JSON number"),
        ('{"score": -Infinity}', "properties.score: -inf is not a JSON number"),
        ('{"tags": ["ok", "\\udfff"]}', "properties.tags[1]: a lone surrogate"),
        ('{"\\ud83d": 1}', "properties (a key): a lone surrogate"),
        ('{"note": "nul\\u0000byte"}', "properties.note: contains a NUL character"),
        ('{"a": ' * 40 + "1" + "}" * 40, "nested deeper than 32 levels"),
    ],
)
async def test_properties_that_are_not_strict_json_are_refused_naming_the_field(
    api: httpx.AsyncClient, api_app: FastAPI, properties: str, message: str
) -> None:
    body = '{"events": [%s, {"id": "e2", "type": "user.signed_up", "customer_id": "c2", "properties": %s}]}' % (
        json.dumps(SIGNUP),
        properties,
    )
    response = await api.post("/v1/events", **raw(body))  # type: ignore[arg-type]
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "events", 1, "properties"]
    assert message in error["msg"]
    assert await stored_ids(api_app) == [], "the batch is refused whole"


async def test_an_event_too_large_for_temporal_is_refused_with_its_size(api: httpx.AsyncClient, api_app: FastAPI) -> None:
    big = {**SIGNUP, "properties": {"blob": "x" * 300_000}}
    response = await api.post("/v1/events", json=big)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert "the event is 300,0" in error["msg"] and "at most 262,144" in error["msg"]
    assert await stored_ids(api_app) == []


async def test_an_event_just_under_the_limit_is_accepted(api: httpx.AsyncClient, api_app: FastAPI) -> None:
    response = await api.post("/v1/events", json={**SIGNUP, "properties": {"blob": "x" * 250_000}})
    assert response.status_code == 202
    assert await stored_ids(api_app) == ["e1"]


@pytest.mark.parametrize("bad_id", ["nul\u0000id", "bell\u0007", "del\u007f"])
async def test_ids_with_control_characters_are_refused(api: httpx.AsyncClient, api_app: FastAPI, bad_id: str) -> None:
    response = await api.post("/v1/events", json={**SIGNUP, "customer_id": bad_id})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "customer_id"]
    assert await stored_ids(api_app) == []


async def test_a_profile_attribute_that_is_not_strict_json_is_refused(api: httpx.AsyncClient, api_app: FastAPI) -> None:
    response = await api.put(
        "/v1/customers/ann", **raw('{"email": "ann@example.com", "attributes": {"first_name": "An\\ud83d"}}')  # type: ignore[arg-type]
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "attributes"] and "attributes.first_name: a lone surrogate" in error["msg"]
    async with api_app.state.journeys.db.session() as session:
        assert await session.get(CustomerRow, "ann") is None


async def test_a_profile_too_large_for_a_journeys_start_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.put("/v1/customers/ann", json={"attributes": {"notes": "x" * 300_000}})
    assert response.status_code == 422
    assert "the profile is 300,0" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Europe/" + "x" * 300, "../etc/passwd", "/usr/share/zoneinfo/UTC"])
async def test_only_iana_zone_names_are_time_zones(api: httpx.AsyncClient, zone: str) -> None:
    response = await api.put("/v1/customers/ann", json={"timezone": zone})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "timezone"]
