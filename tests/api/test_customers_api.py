"""Customers over HTTP: upsert, read, message log, validation."""

import httpx


async def test_put_creates_then_updates_and_get_reads_it(api: httpx.AsyncClient) -> None:
    body = {"email": "ann@example.com", "timezone": "Europe/Berlin", "locale": "de", "attributes": {"first_name": "Ann"}}
    created = await api.put("/v1/customers/c1", json=body)
    assert created.status_code == 201
    updated = await api.put("/v1/customers/c1", json={**body, "attributes": {"first_name": "Anna"}})
    assert updated.status_code == 200
    read = await api.get("/v1/customers/c1")
    assert read.json() == {"id": "c1", **body, "attributes": {"first_name": "Anna"}}


async def test_unknown_customer_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/customers/nobody")
    assert response.status_code == 404 and "nobody" in response.json()["detail"]
    assert (await api.get("/v1/customers/nobody/messages")).status_code == 404


async def test_a_known_customer_without_mail_has_an_empty_log(api: httpx.AsyncClient) -> None:
    await api.put("/v1/customers/c2", json={"email": "c2@example.com"})
    response = await api.get("/v1/customers/c2/messages")
    assert response.status_code == 200 and response.json() == []


async def test_invalid_email_timezone_and_attributes_are_422_naming_the_field(api: httpx.AsyncClient) -> None:
    cases = [
        ({"email": "nope"}, ["body", "email"]),
        ({"timezone": "Mars/Base"}, ["body", "timezone"]),
        ({"attributes": ["not", "an", "object"]}, ["body", "attributes"]),
    ]
    for body, loc in cases:
        response = await api.put("/v1/customers/c3", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == loc
    assert (await api.get("/v1/customers/c3")).status_code == 404, "nothing stored half-way"
