"""The API key is checked, and the body capped, before any route reads a byte of it: a
client without a key cannot make the API read 300 MB, nor can one with a key."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from journeys.telemetry import metrics
from tests.api.conftest import API_KEY

CHUNK = 64 * 1024


async def call(app: FastAPI, method: str, path: str, *, key: str | None, chunks: int, declare: bool = False) -> tuple[int, dict[str, str], int]:
    """Drive the ASGI app with a body of ``chunks`` x 64 KB handed over only when asked for;
    returns the status, headers and how many chunks the app pulled."""
    pulled = 0
    headers = [(b"content-type", b"application/json")]
    if key is not None:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    if declare:
        headers.append((b"content-length", str(chunks * CHUNK).encode()))

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= chunks:
            return {"type": "http.disconnect"}
        pulled += 1
        return {"type": "http.request", "body": b" " * CHUNK, "more_body": pulled < chunks}

    answer: dict[str, Any] = {}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"", "headers": headers,
             "http_version": "1.1", "scheme": "http", "server": ("test", 80), "client": ("127.0.0.1", 1), "root_path": ""}
    await app(scope, receive, send)
    return answer["status"], answer["headers"], pulled


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/v1/customers/ann"), ("POST", "/v1/suppressions"), ("PUT", "/v1/customers/ann/subscriptions"),
     ("POST", "/v1/customers/ann/messages"), ("POST", "/v1/events")],
)
async def test_without_a_key_the_body_is_never_read(api_app: FastAPI, method: str, path: str) -> None:
    status, headers, pulled = await call(api_app, method, path, key=None, chunks=300 * 16)  # 300 MB offered
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    assert pulled == 0, "not one byte of the body was read"
    status, _, pulled = await call(api_app, method, path, key="wrong", chunks=300 * 16)
    assert status == 401 and pulled == 0


@pytest.mark.parametrize(("path", "limit"), [("/v1/customers/ann", 1024 * 1024), ("/v1/events", 16 * 1024 * 1024)])
async def test_a_body_over_its_routes_limit_is_refused_as_soon_as_it_is_known(api_app: FastAPI, path: str, limit: int) -> None:
    method = "PUT" if "customers" in path else "POST"
    status, _, pulled = await call(api_app, method, path, key=API_KEY, chunks=300 * 16)
    assert status == 413
    assert pulled * CHUNK <= limit + CHUNK, "reading stopped at the limit"
    status, _, pulled = await call(api_app, method, path, key=API_KEY, chunks=300 * 16, declare=True)
    assert status == 413 and pulled == 0, "a declared Content-Length over the limit is refused unread"


async def test_public_routes_are_capped_too(api_app: FastAPI) -> None:
    status, _, pulled = await call(api_app, "POST", "/v1/webhooks/mailgun", key=None, chunks=200)  # 12.5 MB
    assert status == 413 and pulled * CHUNK <= 5 * 1024 * 1024 + CHUNK
    status, _, _ = await call(api_app, "POST", "/v1/track", key=None, chunks=2)  # 128 KB > Segment's 32 KB
    assert status == 413
    status, _, _ = await call(api_app, "POST", "/u/some-token", key=None, chunks=2)
    assert status == 413


async def test_the_limits_are_in_the_openapi_document(api_app: FastAPI) -> None:
    paths = api_app.openapi()["paths"]
    assert paths["/v1/events"]["post"]["x-max-body-bytes"] == 16 * 1024 * 1024
    assert paths["/v1/batch"]["post"]["x-max-body-bytes"] == 500 * 1024


async def test_a_client_gone_mid_body_is_no_server_error_and_stores_nothing(api_app: FastAPI, api: Any) -> None:
    """A phone that loses its connection halfway through a batch: counted as 499 (client
    closed request), not as a 500 with a traceback, and none of its events stored."""
    batch = b'{"events": [' + b",".join(b'{"id": "gone-%d", "type": "user.signed_up", "customer_id": "c"}' % i for i in range(50)) + b"]}"
    parts = [{"type": "http.request", "body": batch[: len(batch) // 2], "more_body": True}, {"type": "http.disconnect"}]

    async def receive() -> dict[str, Any]:
        return parts.pop(0) if parts else {"type": "http.disconnect"}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    headers = [(b"content-type", b"application/json"), (b"authorization", f"Bearer {API_KEY}".encode())]
    scope = {"type": "http", "method": "POST", "path": "/v1/events", "raw_path": b"/v1/events", "query_string": b"", "headers": headers,
             "http_version": "1.1", "scheme": "http", "server": ("test", 80), "client": ("127.0.0.1", 1), "root_path": ""}
    def answered(status: int) -> float:
        labels = {"method": "POST", "route": "/v1/events", "status": str(status)}
        return metrics.REGISTRY.get_sample_value("journeys_http_requests_total", labels) or 0.0

    before = {status: answered(status) for status in (499, 500)}
    await api_app(scope, receive, send)  # raised ClientDisconnect out of the app before
    assert statuses == [499]
    assert (answered(499) - before[499], answered(500) - before[500]) == (1.0, 0.0), "counted as 499, not as a 500"
    again = await api.post("/v1/events", content=batch, headers={"content-type": "application/json"})
    assert again.status_code == 202 and again.json()["accepted"] == 50, "nothing of the broken request was stored"
