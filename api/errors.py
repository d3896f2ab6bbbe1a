"""The API's error answers, in one place.

Validation errors keep FastAPI's shape, ``{"detail": [{"loc", "msg", "type"}]}``, without
echoing the refused input back: that input may be what cannot be encoded (a lone
surrogate, NaN), and echoing it would turn a 422 into a 500.

When the database or Temporal is away the answer is 503 with ``Retry-After``: nothing was
accepted, so the client (or its SDK) sends again later, and nothing is half done.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from temporalio.service import RPCError, RPCStatusCode

from api.guard import path_pattern

_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")
# nginx's code for "the client closed the request": nobody reads it, the metrics count it.
CLIENT_CLOSED_REQUEST = 499

log = logging.getLogger("journeys.api")


def validation_details(errors: Any) -> list[dict[str, Any]]:
    """loc, msg and type of each error; nothing the client sent is repeated."""
    details = []
    for error in errors:
        message = str(error.get("msg", ""))
        for prefix in _PYDANTIC_PREFIXES:
            message = message.removeprefix(prefix)
        details.append({"loc": list(error.get("loc", ())), "msg": message, "type": str(error.get("type", "value_error"))})
    return details


def invalid(*fields: tuple[tuple[str | int, ...], str]) -> RequestValidationError:
    """A 422 for fields only the route can judge (a topic the templates do not have), each
    given as (loc, msg); raised, it is answered like any other validation error."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": "value_error"} for loc, msg in fields])


async def _validation_failed(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": validation_details(exc.errors())}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


RETRY_AFTER_SECONDS = 5
# Temporal answers these while it is down, starting or overloaded.
_TEMPORAL_AWAY = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED}


def unavailable(what: str) -> JSONResponse:
    return JSONResponse(
        {"detail": f"{what} is unavailable right now; nothing was changed, try again shortly"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _database_away(request: Request, exc: Exception) -> JSONResponse:
    return unavailable("the database")


async def _database_refused_a_value(request: Request, exc: Exception) -> JSONResponse:
    # Intake validates what it stores; this is the net under it, never a 500.
    details = [{"loc": ["body"], "msg": "a value the database cannot store", "type": "value_error"}]
    return JSONResponse({"detail": details}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _temporal_rpc_failed(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RPCError)
    if exc.status in _TEMPORAL_AWAY:
        return unavailable("Temporal")
    raise exc


async def _temporal_unreachable(request: Request, exc: Exception) -> JSONResponse:
    # The SDK's lazy client says "Failed client connect: ..." while Temporal is down.
    if "connect" in str(exc).lower():
        return unavailable("Temporal")
    raise exc


_FASTAPI_PARSE_ERROR = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's and Starlette's own errors, in the API's shape: a body FastAPI could not
    parse is a 422 naming the body like any other; a 405 lists every method the path has."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.detail == _FASTAPI_PARSE_ERROR:
        cause = exc.__cause__
        why = "nested too deeply" if isinstance(cause, RecursionError) else str(cause or "not JSON")
        details = [{"loc": ["body"], "msg": f"invalid JSON: {why}", "type": "json_invalid"}]
        return JSONResponse({"detail": details}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    if exc.status_code == status.HTTP_422_UNPROCESSABLE_CONTENT and isinstance(exc.detail, str):
        # One shape for every 422, even one raised with a sentence.
        details = [{"loc": ["body"], "msg": exc.detail, "type": "value_error"}]
        return JSONResponse({"detail": details}, status_code=exc.status_code)
    headers = dict(exc.headers or {})
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the OpenAPI document has for this path (HEAD with GET)."""
    methods: set[str] = set()
    for template, operations in app.openapi().get("paths", {}).items():
        if path_pattern(template).fullmatch(path):
            methods |= {m.upper() for m in operations if m.upper() in HTTP_METHODS}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def _client_went_away(request: Request, exc: Exception) -> Response:
    # The client left before its body was all there: nothing was read far enough to be
    # stored, and it is no server error (a flaky phone connection must not page anyone).
    log.info("client went away before its request body was complete: %s %s", request.method, request.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)


HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for database_error in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(database_error, _database_away)
    app.add_exception_handler(DataError, _database_refused_a_value)
    app.add_exception_handler(RPCError, _temporal_rpc_failed)
    app.add_exception_handler(RuntimeError, _temporal_unreachable)
    app.add_exception_handler(ClientDisconnect, _client_went_away)
