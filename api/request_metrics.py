"""Counts and times every HTTP request by route template, method and status.

An ASGI middleware outside every other (RequestGuard included), so a 401 or 413 the guard
answers before routing is counted, under the route it was for. The label is the route's
template (``/v1/customers/{customer_id}``), never the raw path: a path per customer would
be a series per customer. A path no route has is ``other``, and so is a method no route
takes, as a client may send any.
"""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.guard import path_pattern
from journeys.telemetry import metrics

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._documented: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts: an exception that escaped every handler

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if self._documented is None:
                self._documented = documented_paths(scope["app"].openapi())
            route = route_template(scope, self._documented)
            method = scope["method"] if scope["method"] in METHODS else OTHER
            metrics.HTTP_REQUESTS.labels(route=route, method=method, status=str(status)).inc()
            metrics.HTTP_DURATION.labels(route=route, method=method).observe(time.perf_counter() - started)


def route_template(scope: Scope, documented: list[tuple[re.Pattern[str], str]]) -> str:
    """The template of the route that answered (the router leaves it in the scope), else
    of the documented path the request was for (the guard answered before routing), else
    ``other``."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    return next((template for pattern, template in documented if pattern.fullmatch(scope["path"])), OTHER)


def documented_paths(document: dict[str, Any]) -> list[tuple[re.Pattern[str], str]]:
    """The OpenAPI document's path templates as patterns, fixed paths before templated ones
    (``/v1/suppressions/{email}`` must not take a fixed path's request)."""
    templates = sorted(document.get("paths", {}), key=lambda t: "{" in t)
    return [(path_pattern(template), template) for template in templates]
