"""The API's error answers, in one place.

Validation errors keep FastAPI's shape, ``{"detail": [{"loc", "msg", "type"}]}``, without
echoing the refused input back: that input may be what cannot be encoded (a lone
surrogate, NaN), and echoing it would turn a 422 into a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def validation_details(errors: Any) -> list[dict[str, Any]]:
    """loc, msg and type of each error; nothing the client sent is repeated."""
    details = []
    for error in errors:
        message = str(error.get("msg", ""))
        for prefix in _PYDANTIC_PREFIXES:
            message = message.removeprefix(prefix)
        details.append({"loc": list(error.get("loc", ())), "msg": message, "type": str(error.get("type", "value_error"))})
    return details


async def _validation_failed(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": validation_details(exc.errors())}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_failed)
