"""What every request meets before any route reads a byte of its body: the API key (on the
routes that need it) and a cap on the body's size.

FastAPI reads and validates a pydantic body before a route's dependencies run, so a
dependency alone would let anyone without a key make the API read 300 MB. This ASGI
middleware answers 401 from the headers alone, and 413 as soon as a body is known to be
over its route's limit (``Content-Length``, or counting a streamed body); only then is
the body handed to the route.

What to check is read from the API's own OpenAPI document, so the document and the guard
cannot disagree: an operation whose ``security`` is the bearer API key needs the key (the
Segment routes, which may carry their write key in the body, check it themselves), and
its limit is its ``x-max-body-bytes`` (set with ``max_body(...)``), else ``DEFAULT_MAX_BODY``.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY = 1024 * 1024
LIMIT_KEY = "x-max-body-bytes"
# Segment's routes answer as Segment does, {"success": false, "code", "message"}: the SDKs log it.
SHAPE_KEY = "x-error-shape"


def max_body(limit: int, *, segment: bool = False) -> dict[str, Any]:
    """``openapi_extra`` for a route whose bodies may be larger or must be smaller."""
    return {LIMIT_KEY: limit, **({SHAPE_KEY: "segment"} if segment else {})}


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    method: str
    needs_key: bool
    limit: int
    segment: bool = False


class RequestGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._rules: list[_Rule] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self._rule_for(scope)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if rule is not None and rule.needs_key:
            refusal = _check_key(scope, headers.get("authorization", ""))
            if refusal is not None:
                await _answer(send, 401, refusal, {"WWW-Authenticate": "Bearer"})
                return
        limit = rule.limit if rule is not None else DEFAULT_MAX_BODY
        segment = rule is not None and rule.segment
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _answer(send, 413, _too_large(limit, segment), segment=segment)
            return
        body, more = [], True
        size = 0
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _answer(send, 413, _too_large(limit, segment), segment=segment)
                return
            body.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, _replay(body, None, receive), send)


    def _rule_for(self, scope: Scope) -> _Rule | None:
        if self._rules is None:
            self._rules = _rules(scope["app"].openapi())
        method, path = scope["method"].lower(), scope["path"]
        return next((r for r in self._rules if r.method == method and r.pattern.fullmatch(path)), None)


def path_pattern(template: str) -> re.Pattern[str]:
    """The paths an OpenAPI path template matches: ``/u/{token}`` matches ``/u/abc``."""
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)))


def _rules(document: dict[str, Any]) -> list[_Rule]:
    """One rule per operation of the OpenAPI document; fixed paths before templated ones."""
    rules = []
    for template, operations in document.get("paths", {}).items():
        pattern = path_pattern(template)
        for method, operation in operations.items():
            if isinstance(operation, dict):
                rules.append(
                    _Rule(
                        pattern,
                        method,
                        operation.get("security") == [{"HTTPBearer": []}],  # the API key, and only it
                        int(operation.get(LIMIT_KEY, DEFAULT_MAX_BODY)),
                        operation.get(SHAPE_KEY) == "segment",
                    )
                )
    return sorted(rules, key=lambda r: "[^/]+" in r.pattern.pattern)


def _check_key(scope: Scope, authorization: str) -> str | None:
    """None if the bearer token is the API key, else why not."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "missing API key: send the header 'Authorization: Bearer <your API key>'"
    state = getattr(scope["app"].state, "journeys", None)
    expected = state.api_key if state is not None else ""
    if not expected or not secrets.compare_digest(token.strip().encode("utf-8", "replace"), expected.encode()):
        return "invalid API key"
    return None


def _too_large(limit: int, segment: bool = False) -> str:
    if segment:
        return f"request body over {limit // 1024} KB (Segment's limit)"
    return f"request body over {limit // 1024} KB: send less (or, for events, several batches)"


def _replay(body: list[bytes], last: Message | None, receive: Receive) -> Receive:
    """The body already read, then whatever the client sends next (a disconnect)."""
    pending: list[Message] = [{"type": "http.request", "body": b"".join(body), "more_body": False}] if last is None else [last]

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _answer(send: Send, status: int, detail: str, headers: dict[str, str] | None = None, *, segment: bool = False) -> None:
    shaped = {"success": False, "code": "payload_too_large", "message": detail} if segment else {"detail": detail}
    body = json.dumps(shaped).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
