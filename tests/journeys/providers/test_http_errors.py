"""The shared HTTP error helpers: Retry-After parsing, transport errors, the default status mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from journeys.providers.base import PermanentSendError, TransientSendError
from journeys.providers.http_errors import classify_status, retry_after, transport_error


def answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("POST", "https://esp.test/send"))


@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), ("0", 0.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None)])
def test_retry_after_in_seconds(value: str, seconds: float | None) -> None:
    assert retry_after(answer(429, **{"Retry-After": value})) == seconds


def test_retry_after_as_an_http_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 85 <= (retry_after(answer(503, **{"Retry-After": later})) or 0) <= 90
    earlier = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert retry_after(answer(503, **{"Retry-After": earlier})) == 0.0
    assert retry_after(answer(503)) is None


@pytest.mark.parametrize(
    ("exc", "maybe_sent"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow"), False),
        (httpx.PoolTimeout("busy"), False),
        (httpx.ReadTimeout("no answer"), True),
        (httpx.WriteTimeout("stuck"), True),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), True),
        (httpx.ReadError("reset"), True),
    ],
)
def test_transport_errors_are_transient_and_maybe_sent_once_the_request_left(
    exc: httpx.TransportError, maybe_sent: bool
) -> None:
    error = transport_error(exc, "esp")
    assert isinstance(error, TransientSendError)
    assert error.maybe_sent is maybe_sent
    assert type(exc).__name__ in str(error)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(429, TransientSendError), (500, TransientSendError), (502, TransientSendError), (503, TransientSendError),
     (408, TransientSendError), (400, PermanentSendError), (401, PermanentSendError), (403, PermanentSendError),
     (404, PermanentSendError), (413, PermanentSendError), (422, PermanentSendError)],
)
def test_default_status_classification(status: int, kind: type[Exception]) -> None:
    error = classify_status("esp", answer(status, **{"Retry-After": "4"}), "why")
    assert isinstance(error, kind)
    assert "why" in str(error)
    if isinstance(error, TransientSendError):
        assert error.retry_after == 4.0
    if status in (401, 403):
        assert "authentication failed" in str(error)


@pytest.mark.parametrize(("status", "maybe_sent"), [(502, True), (504, True), (500, False), (503, False), (429, False)])
def test_a_gateway_timing_out_on_the_esp_leaves_the_send_maybe_sent(status: int, maybe_sent: bool) -> None:
    """502/504 come from a proxy in front of the ESP: the ESP may have taken the email."""
    error = classify_status("esp", answer(status), "why")
    assert isinstance(error, TransientSendError) and error.maybe_sent is maybe_sent
