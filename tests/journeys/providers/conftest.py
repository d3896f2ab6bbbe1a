"""A fake ESP: a real HTTP server on 127.0.0.1 that records each request and answers as told.

Tests set ``fake.handler`` (a function from the received request to a ``Reply``), or use
``fake.answer(...)`` for a fixed reply, or ``fake.hang()`` for a server that takes the request
and never answers. An ``AssertionError`` raised by a handler (a request that is not what the
provider documents) is answered with HTTP 418 quoting it, and fails the test at teardown.

Shared by the adapters' tests: ``error_for`` (what the module's ``sender`` raises for a given
reply) and ``assert_send_error`` (how that error is classified).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from journeys.providers.base import EmailSender, OutgoingEmail, PermanentSendError, TransientSendError

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def assert_send_error(
    exc: BaseException,
    kind: type[Exception],
    *,
    text: str,
    retry_after: float | None = None,
    hard_bounce: bool = False,
    maybe_sent: bool = False,
) -> None:
    """``exc`` is a ``kind`` whose message contains ``text``, with the given classification.

    A transient error carries ``retry_after`` and ``maybe_sent``; a permanent one ``hard_bounce``.
    """
    assert isinstance(exc, kind), f"{exc!r} is not a {kind.__name__}"
    assert text in str(exc)
    if isinstance(exc, TransientSendError):
        assert exc.retry_after == retry_after
        assert exc.maybe_sent is maybe_sent
    else:
        assert isinstance(exc, PermanentSendError)
        assert exc.hard_bounce is hard_bounce


@dataclass
class Received:
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body.decode(), keep_blank_values=True, strict_parsing=True)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list: JSON; str/bytes: as is; None: empty
    headers: dict[str, str] = field(default_factory=dict)


class FakeProvider:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.failures: list[str] = []
        self.handler: Callable[[Received], Reply] = lambda request: Reply(500, "no handler set")
        self.stop = threading.Event()
        self._hang = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.handler = lambda request: Reply(status, body, headers or {})

    def hang(self) -> None:
        """Take requests, never answer (until teardown)."""
        self._hang = True

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def _handler_class(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Received(
                self.command,
                self.path,
                {name.lower(): value for name, value in self.headers.items()},
                self.rfile.read(length),
            )
            fake.requests.append(request)
            if fake._hang:
                fake.stop.wait(30)
                self.close_connection = True
                return
            try:
                reply = fake.handler(request)
            except AssertionError as exc:
                fake.failures.append(f"{request.method} {request.target}: {exc}")
                reply = Reply(418, f"fake server: the request is not as documented: {exc}")
            body = reply.body
            if isinstance(body, (dict, list)):
                data = json.dumps(body).encode()
                content_type = "application/json"
            else:
                data = body.encode() if isinstance(body, str) else (body or b"")
                content_type = "text/plain; charset=utf-8"
            self.send_response(reply.status)
            if data and not any(name.lower() == "content-type" for name in reply.headers):
                self.send_header("Content-Type", content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours proxy variables; the fake provider is on loopback, reached directly."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    provider.start()
    try:
        yield provider
    finally:
        provider.close()
    assert not provider.failures, provider.failures


ErrorFor = Callable[[Reply], Awaitable[Exception]]


@pytest.fixture
def error_for(fake: FakeProvider, sender: EmailSender, email: OutgoingEmail) -> ErrorFor:
    """What the test module's ``sender`` raises sending ``email`` when the fake ESP answers with a given reply.

    The test fails if the send succeeds, or raises anything but a PermanentSendError or TransientSendError.
    """

    async def error(reply: Reply) -> Exception:
        fake.handler = lambda request: reply
        with pytest.raises((PermanentSendError, TransientSendError)) as raised:
            await sender.send(email)
        return raised.value

    return error


@pytest.fixture
def dead_url() -> str:
    """A loopback URL with nothing listening: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# The ``email`` fixture's metadata and message id as ESP tags (SES, Resend): ":" is not allowed in a tag value.
EMAIL_TAGS = [
    ("customer_id", "c1"),
    ("template", "welcome"),
    ("journey", "welcome"),
    ("step", "send_welcome"),
    ("journeys_message_id", "msg_01HZX3Q8K2"),
]


@pytest.fixture
def email() -> OutgoingEmail:
    return OutgoingEmail(
        message_id="msg_01HZX3Q8K2",
        to="Ann Lee <ann@example.com>",
        from_="Shop <shop@example.com>",
        subject="Welcome, Ann — here's 10% off",
        html="<p>Hello Ann</p>",
        text="Hello Ann",
        headers={
            "List-Unsubscribe": "<https://shop.example.com/u/abc123>, <mailto:unsubscribe@shop.example.com?subject=abc123>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        metadata={"customer_id": "c1", "template": "welcome", "journey": "welcome", "step": "send:welcome"},
    )
