"""Every /v1 route wants the API key; the answer says what is wrong."""

import httpx
import pytest

ROUTES = [
    ("POST", "/v1/events"),
    ("PUT", "/v1/customers/c1"),
    ("GET", "/v1/customers/c1"),
    ("GET", "/v1/customers/c1/messages"),
    ("GET", "/v1/customers/c1/journeys"),
    ("DELETE", "/v1/customers/c1/journeys/welcome"),
    ("DELETE", "/v1/customers/c1"),
    ("GET", "/v1/journeys/welcome/splits"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_no_key_is_401_with_how_to_send_it(api: httpx.AsyncClient, method: str, path: str) -> None:
    response = await api.request(method, path, headers={"Authorization": ""}, json={})
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_a_wrong_key_is_401(api: httpx.AsyncClient, method: str, path: str) -> None:
    response = await api.request(method, path, headers={"Authorization": "Bearer nope"}, json={})
    assert response.status_code == 401 and response.json()["detail"] == "invalid API key"


async def test_health_and_docs_need_no_key(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz", headers={"Authorization": ""})).json()["status"] == "ok"
    schema = (await api.get("/openapi.json", headers={"Authorization": ""})).json()
    assert "/v1/events" in schema["paths"] and "/v1/customers/{customer_id}/messages" in schema["paths"]
