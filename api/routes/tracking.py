"""Tracked links and the open pixel in marketing email (journeys/tracking/), public: the
signed token is the only key.

- ``GET /t/c/{token}``: a click. 302 to the URL stored with the message at the token's
  position, and nowhere else: a token we did not sign, or a position the message does
  not have, gets a 404 "link not valid" page and no redirect.
- ``GET /t/o/{token}``: the pixel. Always the same 1x1 GIF, whatever the token (a
  broken image in someone's mail says nothing useful); only a token we signed records.

Each hit is told apart from machines and recorded by journeys/tracking/hits.py; a
person's first click or open becomes an event, dispatched as ESP webhook events are (a
click once the burst window has passed: journeys/intake/engagement.py says why).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from api.answers import answers
from api.deps import StateDep
from journeys.intake.engagement import hold_seconds
from journeys.intake.machines import Rules
from journeys.storage.tables import utcnow
from journeys.tracking.clients import client_address, masked
from journeys.tracking.hits import Hit, Recorded, record_hit
from journeys.tracking.links import as_location
from journeys.tracking.tokens import InvalidToken, Kind, TrackingClaims, read_token, tracking_key

log = logging.getLogger("journeys.tracking")
router = APIRouter(tags=["tracking"])

# Documented, not enforced by FastAPI: any other text gets the "link not valid" page (a
# person clicked it), not a JSON 422.
TOKEN_PATTERN = r"^t1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
MAX_TOKEN = 1000
ClickToken = Annotated[
    str, Path(description="A signed tracking token (`t1.<payload>.<signature>`)", json_schema_extra={"pattern": TOKEN_PATTERN, "maxLength": MAX_TOKEN})
]
# No pattern documented here: the pixel answers every token alike (200, the GIF), and a
# document with a pattern would promise that other text is refused.
OpenToken = Annotated[str, Path(description="A signed tracking token (`t1.<payload>.<signature>`); any other text gets the pixel too")]

# The token is in the URL: keep it out of caches, referrers and search engines.
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
PAGE_HEADERS = {**HEADERS, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
# A transparent 1x1 GIF, 43 bytes.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
# No JavaScript, nothing of the request echoed: the page says only that the link is not ours.
NOT_VALID_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Link not valid</title>'
    "<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}</style>"
    "</head><body><h1>Link not valid</h1><p>This link is not valid, or no longer leads anywhere.</p></body></html>"
)


def _claims(state: StateDep, token: str, kind: Kind) -> TrackingClaims | None:
    try:
        if len(token) > MAX_TOKEN:
            raise InvalidToken(f"over {MAX_TOKEN} characters")
        claims = read_token(tracking_key(state.unsubscribe_secret), token)
    except InvalidToken as exc:
        log.warning("refused %s token: %s", kind, exc)
        return None
    if claims.kind != kind:
        log.warning("refused %s token: it is a%s token", kind, "n open" if claims.kind == "open" else " click")
        return None
    return claims


def _hit(request: Request, state: StateDep) -> Hit:
    peer = request.client.host if request.client else None
    address = client_address(peer, request.headers.get("x-forwarded-for"), state.settings.trust_forwarded_for)
    return Hit(user_agent=request.headers.get("user-agent", "")[:1000], address=address, at=utcnow())


async def _record(state: StateDep, claims: TrackingClaims, request: Request) -> Recorded | None:
    hit = _hit(request, state)
    rules = Rules.from_settings(state.settings)
    recorded = await record_hit(state.db, claims, hit, cares=state.outbox.registry.cares_about, rules=rules)
    if recorded is None:
        log.warning("%s token for message %s names nothing it has; not recorded", claims.kind, claims.message_id)
        return None
    who = f"{recorded.verdict[0]}: {recorded.verdict[1]}" if recorded.verdict else "a person"
    # Never the full address at INFO: it is personal data (journeys/tracking/clients.py).
    log.info("%s of message %s from %s (%s)%s", claims.kind, claims.message_id, masked(hit.address), who, ", first" if recorded.first else "")
    log.debug("%s of message %s from %s, user agent %r", claims.kind, claims.message_id, hit.address, hit.user_agent)
    state.outbox.submit(recorded.to_dispatch)
    if recorded.held:  # the relay sends it if this process is gone by then
        asyncio.get_running_loop().call_later(hold_seconds(rules), state.outbox.submit, recorded.held)
    return recorded


@router.get(
    "/t/c/{token}",
    status_code=status.HTTP_302_FOUND,
    response_class=Response,
    summary="A tracked link: redirect to the URL it stands for",
    responses={
        302: {
            "description": "the link's URL, as the email had it",
            "headers": {"Location": {"description": "the link's URL", "schema": {"type": "string"}}},
        },
        **answers(404, 503, html=(404,)),
    },
)
async def click(token: ClickToken, request: Request, state: StateDep) -> Response:
    claims = _claims(state, token, "click")
    recorded = await _record(state, claims, request) if claims is not None else None
    if recorded is None or recorded.url is None:
        return HTMLResponse(NOT_VALID_PAGE, status_code=status.HTTP_404_NOT_FOUND, headers=PAGE_HEADERS)
    return Response(status_code=status.HTTP_302_FOUND, headers={"Location": as_location(recorded.url), **HEADERS})


@router.get(
    "/t/o/{token}",
    response_class=Response,
    summary="The open pixel: a 1x1 GIF",
    responses={200: {"description": "a transparent 1x1 GIF", "content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def pixel(token: OpenToken, request: Request, state: StateDep) -> Response:
    claims = _claims(state, token, "open")
    if claims is not None:
        try:
            await _record(state, claims, request)
        except SQLAlchemyError as exc:  # the database away: the open is lost, the image still shows
            log.warning("open of message %s not recorded: %s", claims.message_id, exc)
    return Response(PIXEL, media_type="image/gif", headers=HEADERS)
