"""Every answer a route can give, documented once: the error shape and which statuses carry it.

The API's errors are ``{"detail": "..."}``, and ``{"detail": [{"loc", "msg", "type"}, ...]}``
when the request itself is invalid (422: each entry names a field). The Segment routes
answer as Segment does, ``{"success": false, "code", "message"}``, because the SDKs read
that. Routes declare the statuses they can give with ``answers(...)``; the OpenAPI
document (``/openapi.json``) is checked against the live API by schemathesis in
``make test`` (tests/api/test_openapi_truth.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class Error(BaseModel):
    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class InvalidRequest(BaseModel):
    detail: list[FieldError]


class SegmentOk(BaseModel):
    success: Literal[True]


class SegmentRefusal(BaseModel):
    success: Literal[False]
    code: str
    message: str


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before sending again", "schema": {"type": "integer"}}}
_BEARER = {"WWW-Authenticate": {"schema": {"type": "string"}}}

_WHY = {
    400: "the request is not what the route takes",
    401: "missing or invalid API key (`Authorization: Bearer <API key>`)",
    404: "no such resource (for an unsubscribe or tracked link: not one we signed)",
    409: "conflicts with what is on record (an id used for another request, a suppressed address): nothing was done",
    413: "the body is over this route's limit (`x-max-body-bytes`)",
    422: "invalid request: each entry names a field (`loc`) and says why (`msg`)",
    502: "an upstream the route had to reach did not answer",
    503: "the database or Temporal is away: nothing was changed, send again after `Retry-After`",
}


def answers(*codes: int, segment: bool = False, html: tuple[int, ...] = ()) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route, by status; the statuses in ``html`` answer
    with a page (the unsubscribe routes' "link not valid"), every other one with JSON."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        if segment and code in (400, 401, 413):
            model: type[BaseModel] = SegmentRefusal
        elif code == 422:
            model = InvalidRequest
        else:
            model = Error
        # The media type is spelled out: FastAPI would otherwise file a JSON error under
        # the route's own media type (text/html for a page), which is not what is sent.
        schema = {"type": "string"} if code in html else {"$ref": f"{COMPONENTS}{model.__name__}"}
        entry: dict[str, Any] = {
            "description": _WHY[code],
            "content": {"text/html" if code in html else "application/json": {"schema": schema}},
        }
        if code == 503:
            entry["headers"] = _RETRY_AFTER
        if code == 401 and not segment:
            entry["headers"] = _BEARER
        documented[code] = entry
    return documented


# The error models answers() refers to; api/app.py puts them in the document's components.
COMPONENTS = "#/components/schemas/"
ERROR_MODELS: tuple[type[BaseModel], ...] = (Error, FieldError, InvalidRequest, SegmentOk, SegmentRefusal)


# What every route behind the API key can answer besides its own successes and errors.
AUTHED = answers(401, 413, 422, 503)
