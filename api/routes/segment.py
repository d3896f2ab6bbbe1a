"""The Segment HTTP tracking API: point an existing Segment SDK at Journeys and it works.

``POST /v1/identify``, ``/v1/track``, ``/v1/page``, ``/v1/screen``, ``/v1/group``,
``/v1/alias`` and ``/v1/batch`` (``/v1/import`` is the same as batch). Authenticated as
the SDKs do it: the write key (a Journeys API key) as the HTTP basic-auth user name, or
``writeKey`` in the body (segment-analytics-python), or a bearer token. Answers as
Segment does: 200 ``{"success": true}``; errors carry ``code`` and ``message``, which the
SDKs log. Bodies may be gzip-encoded. Limits as Segment's: 32 KB per call, 500 KB per
batch. A request with one bad call is refused whole (400, naming the call and field),
and nothing of it is stored.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import zlib
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from api.bodies import BodyTooLarge, read_body
from api.answers import SegmentOk, answers
from api.guard import max_body
from api.segment_docs import SECURITY, request_body
from journeys.contracts import json_values
from api.deps import StateDep
from journeys.intake.segment_calls import MAX_BATCH_BYTES, MAX_CALL_BYTES, CallType, SegmentBatch, SegmentCall, SegmentError, parse_call
from journeys.intake.segment_ingest import ProfileUpdate, ingest, profile_update
from journeys.telemetry import log_context, metrics

log = logging.getLogger("journeys.segment")
router = APIRouter(tags=["segment"])


class Refused(Exception):
    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_code, self.code, self.message = status_code, code, message

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="journeys"'} if self.status_code == 401 else None
        return JSONResponse(
            {"success": False, "code": self.code, "message": self.message}, status_code=self.status_code, headers=headers
        )


async def _body(request: Request, limit: int) -> bytes:
    try:
        raw = await read_body(request, limit)  # gzip or not, the wire bytes are at most the limit
    except BodyTooLarge:
        raise Refused(413, "payload_too_large", f"request body over {limit // 1024} KB (Segment's limit)") from None
    if request.headers.get("content-encoding", "").lower() == "gzip":
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = inflate.decompress(raw, limit + 1)  # never inflate more than the limit allows
        except zlib.error as exc:
            raise Refused(400, "invalid_request", f"body is not valid gzip: {exc}") from None
    if len(raw) > limit:
        raise Refused(413, "payload_too_large", f"request body over {limit // 1024} KB (Segment's limit)")
    return raw


def _write_key(request: Request, body: dict[str, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            raise Refused(401, "unauthorized", "malformed basic auth header") from None
    if scheme.lower() == "bearer":
        return value.strip()
    key = body.get("writeKey")
    return key if isinstance(key, str) else None


def _authenticate(state: StateDep, key: str | None) -> None:
    if not key:
        raise Refused(401, "unauthorized", "missing write key: use your Journeys API key as the Segment write key")
    # (a key with a lone surrogate can only be wrong; it must not fail to encode)
    if not secrets.compare_digest(key.encode("utf-8", "surrogatepass"), state.api_key.encode()):
        raise Refused(401, "unauthorized", "invalid write key")


def _checked(raw: Any, call_type: CallType | None, where: str) -> tuple[SegmentCall, ProfileUpdate | None, str]:
    call = parse_call(raw, call_type, where)
    return call, profile_update(call, where) if call.type == "identify" else None, where


async def _handle(request: Request, state: StateDep, call_type: CallType | None) -> JSONResponse:
    try:
        raw = await _body(request, MAX_BATCH_BYTES if call_type is None else MAX_CALL_BYTES)
        try:
            body = json_values.parse(raw)
        except json_values.NotStrictJson as exc:
            raise Refused(400, "invalid_request", str(exc)) from None
        if not isinstance(body, dict):
            raise Refused(400, "invalid_request", "expected a JSON object")
        _authenticate(state, _write_key(request, body))
        try:
            if call_type is not None:
                calls = [_checked(body, call_type, "body")]
                batch_sent_at = None
            else:
                batch = SegmentBatch.model_validate(body)
                calls = []
                for i, item in enumerate(batch.batch):
                    if len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()) > MAX_CALL_BYTES:
                        raise Refused(413, "payload_too_large", f"batch[{i}]: call over 32 KB (Segment's limit)")
                    calls.append(_checked(item, None, f"batch[{i}]"))
                batch_sent_at = batch.sentAt
        except SegmentError as exc:
            raise Refused(400, "invalid_request", str(exc)) from None
        except ValueError as exc:  # pydantic's ValidationError for the batch envelope
            raise Refused(400, "invalid_request", f"body: expected {{\"batch\": [calls]}}: {exc}") from None
        try:
            with metrics.timed(metrics.INGEST_DURATION):
                result = await ingest(state.db, calls, batch_sent_at, needs_dispatch=lambda e: state.outbox.registry.cares_about(e.type))
        except SegmentError as exc:  # found while building the events: nothing was written
            raise Refused(400, "invalid_request", str(exc)) from None
    except Refused as refused:
        log.info("segment call refused (%s): %s", refused.code, refused.message)
        return refused.response()
    stored = [*(e.id for e in result.accepted), *result.duplicate_ids]
    with log_context.bound(event_id=log_context.joined(stored), customer_id=log_context.only(e.customer_id for e in result.accepted)):
        metrics.count_intake("segment", len(result.accepted), len(result.duplicate_ids))
        log.info("segment events stored: %d, duplicates: %d", len(result.accepted), len(result.duplicate_ids))
    state.outbox.submit(result.to_dispatch)
    return JSONResponse({"success": True})


def _endpoint(call_type: CallType | None):  # type: ignore[no-untyped-def]
    async def endpoint(request: Request, state: StateDep) -> JSONResponse:
        return await _handle(request, state, call_type)

    return endpoint


for _path, _type in (
    ("identify", "identify"),
    ("track", "track"),
    ("page", "page"),
    ("screen", "screen"),
    ("group", "group"),
    ("alias", "alias"),
    ("batch", None),
    ("import", None),
):
    router.add_api_route(
        f"/v1/{_path}",
        _endpoint(_type),  # type: ignore[arg-type]
        methods=["POST"],
        status_code=status.HTTP_200_OK,
        summary=f"Segment {_path}" + (" (several calls)" if _type is None else ""),
        response_model=None,
        responses={200: {"model": SegmentOk, "description": "taken"}, **answers(400, 401, 413, 503, segment=True)},
        openapi_extra={
            **max_body(MAX_BATCH_BYTES if _type is None else MAX_CALL_BYTES, segment=True),
            "requestBody": request_body(_type),
            "security": SECURITY,
        },
    )
