"""Where the suite's email lands, counted by our message id: a real SMTP server (aiosmtpd)
that may be slow to confirm DATA, and loopback HTTP stand-ins for SendGrid and Postmark
that may fail a share of requests or take them and never answer."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from chaos.parts import free_port


class Mailbox:
    """Copies received per message id (ours), and to whom; thread-safe."""

    def __init__(self) -> None:
        self.copies: Counter[str] = Counter()
        self.to: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, message_id: str, to: str) -> None:
        with self._lock:
            self.copies[message_id] += 1
            self.to[message_id] = to

    @property
    def delivered(self) -> int:
        return len(self.copies)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.copies.values())

    def recipients(self) -> set[str]:
        with self._lock:
            return set(self.to.values())


class SmtpSink:
    """An SMTP server; ``confirm_delay`` holds the answer to DATA after the message is kept."""

    def __init__(self, mailbox: Mailbox, confirm_delay: float = 0.0) -> None:
        self.mailbox, self.confirm_delay, self.port = mailbox, confirm_delay, free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content)
        self.mailbox.add(str(message["X-Journeys-Message-Id"]), str(message["To"]))
        if self.confirm_delay:
            await asyncio.sleep(self.confirm_delay)
        return "250 OK"

    def __enter__(self) -> "SmtpSink":
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._controller.stop()


class FakeEsp:
    """SendGrid's ``/v3/mail/send`` or Postmark's ``/email``, on loopback.

    ``failing``: the share of requests answered 503 or 429 (with ``Retry-After: 1``)
    without taking the email; ``hang``: take every email and never answer.
    """

    def __init__(self, kind: str, mailbox: Mailbox, *, failing: float = 0.0, hang: bool = False, seed: int = 7) -> None:
        self.kind, self.mailbox, self.failing, self.hang = kind, mailbox, failing, hang
        self.requests = 0
        self.refused = 0
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _take(self, body: dict[str, Any]) -> tuple[str, str]:
        if self.kind == "sendgrid":
            message_id = body["custom_args"]["journeys_message_id"]
            return message_id, body["personalizations"][0]["to"][0]["email"]
        return body["Metadata"]["journeys_message_id"], body["To"]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                fake.requests += 1
                if fake.hang:
                    fake.mailbox.add(*fake._take(body))  # taken: the ESP will send it
                    fake._stop.wait(120)
                    return
                if fake._random.random() < fake.failing:
                    fake.refused += 1
                    status = fake._random.choice([503, 429])
                    self._answer(status, {"errors": [{"message": "try again"}]}, {"Retry-After": "1"})
                    return
                message_id, to = fake._take(body)
                fake.mailbox.add(message_id, to)
                if fake.kind == "sendgrid":
                    self._answer(202, None, {"X-Message-Id": f"sg-{message_id}"})
                else:
                    self._answer(200, {"MessageID": f"pm-{message_id}", "ErrorCode": 0, "Message": "OK"}, {})

            def _answer(self, status: int, body: Any, headers: dict[str, str]) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", "Content-Length": str(len(data)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def __enter__(self) -> "FakeEsp":
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
