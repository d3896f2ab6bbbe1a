"""Unsubscribe links in marketing email (RFC 8058), public: the signed token is the only key.

- ``POST /u/{token}``: one-click unsubscribe from the token's topic, as mailbox providers
  send it (body ``List-Unsubscribe=One-Click``); 200, no redirect, no cookie, no login.
- ``GET /u/{token}``: a small page (no JavaScript) to confirm, or to choose topics; a
  GET never changes anything, because link scanners open every link in a mail.
- ``POST /u/{token}/preferences``: the page's topic form.

A token we did not sign, or that was altered, gets a 404 "link not valid" page and changes
nothing: to a client the link names nothing we have.
"""

from __future__ import annotations

from dataclasses import replace

import logging
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import HTMLResponse
from sqlmodel.ext.asyncio.session import AsyncSession

from api.answers import answers
from api.guard import max_body
from api.deps import StateDep
from journeys.customers.identity import resolve
from journeys.intake.email_feedback import record_unsubscribe
from api.unsubscribe_page import done_page, error_page, preferences_page
from journeys.customers.profiles import get_customer
from journeys.consent.subscriptions import ALL_MARKETING, Subscriptions, load_subscriptions, set_subscriptions
from journeys.contracts.send_rules import TOPIC_PATTERN
from journeys.consent.unsubscribe_tokens import InvalidToken, UnsubscribeClaims, read_token

log = logging.getLogger("journeys.unsubscribe")
router = APIRouter(tags=["unsubscribe"])

# Documented, not enforced by FastAPI: any other text gets the "link not valid" page (a
# person clicked it), not a JSON 422.
TOKEN_PATTERN = r"^u1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
MAX_TOKEN = 1000
Token = Annotated[str, Path(json_schema_extra={"pattern": TOKEN_PATTERN, "maxLength": MAX_TOKEN})]
MAX_FORM_BYTES = 16_384
HEADERS = {
    # The token is in the URL: keep it out of caches, referrers and search engines.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


NO_LONGER_ON_FILE = "We have no email address on file for this link any more."


async def _preferences(state: StateDep, session: AsyncSession, claims: UnsubscribeClaims) -> Subscriptions:
    topics = [*state.catalog.topics(), claims.topic]  # the link's topic, even if no template has it now
    return await load_subscriptions(session, claims.customer_id, topics, state.settings.opt_in_topic_set)


async def _now_of(session: AsyncSession, claims: UnsubscribeClaims) -> UnsubscribeClaims:
    """The link names the id the email went to; if that id has since been merged into a
    customer (an anonymous visitor who signed up), the choice is that customer's."""
    customer_id = (await resolve(session, [claims.customer_id])).get(claims.customer_id, claims.customer_id)
    return claims if customer_id == claims.customer_id else replace(claims, customer_id=customer_id)


async def _counted(state: StateDep, session: AsyncSession, claims: UnsubscribeClaims) -> None:
    """An unsubscribe through an email's link counts against that email (journeys/analytics)."""
    if claims.message_id is None:
        return
    stored = await record_unsubscribe(state.db, session, claims.message_id, claims.topic, state.outbox.registry.cares_about)
    await session.commit()
    state.outbox.submit(stored.to_dispatch)


def _page(body: str, code: int = status.HTTP_200_OK) -> HTMLResponse:
    return HTMLResponse(body, status_code=code, headers=HEADERS)


def _claims(state: StateDep, token: str) -> UnsubscribeClaims | HTMLResponse:
    try:
        if len(token) > MAX_TOKEN:
            raise InvalidToken(f"over {MAX_TOKEN} characters")
        return read_token(state.unsubscribe_secret, token)
    except InvalidToken as exc:
        log.warning("refused unsubscribe token: %s", exc)
        return _page(error_page(), status.HTTP_404_NOT_FOUND)


@router.get(
    "/u/{token}",
    response_class=HTMLResponse,
    summary="Unsubscribe page (confirm, or choose topics)",
    responses=answers(404, 503, html=(404,)),
)
async def unsubscribe_page(token: Token, state: StateDep) -> HTMLResponse:
    claims = _claims(state, token)
    if isinstance(claims, HTMLResponse):
        return claims
    async with state.db.session() as session:
        claims = await _now_of(session, claims)
        if await get_customer(session, claims.customer_id) is None:
            return _page(done_page(NO_LONGER_ON_FILE))
        subs = await _preferences(state, session, claims)
    return _page(preferences_page(token, claims.topic, subs))


@router.post(
    "/u/{token}",
    response_class=HTMLResponse,
    summary="One-click unsubscribe (RFC 8058)",
    openapi_extra=max_body(MAX_FORM_BYTES),
    responses=answers(404, 413, 503, html=(404,)),
)
async def one_click_unsubscribe(token: Token, state: StateDep) -> HTMLResponse:
    claims = _claims(state, token)
    if isinstance(claims, HTMLResponse):
        return claims
    async with state.db.session() as session:
        claims = await _now_of(session, claims)
        if await get_customer(session, claims.customer_id) is not None:
            await set_subscriptions(state.db, session, claims.customer_id, {claims.topic: False}, source="one-click")
            log.info("customer %s unsubscribed from %s (one-click)", claims.customer_id, claims.topic)
            await _counted(state, session, claims)
    return _page(done_page(f"You are unsubscribed from {claims.topic} emails.", token=token))


@router.post(
    "/u/{token}/preferences",
    response_class=HTMLResponse,
    summary="Save the topics chosen on the page",
    openapi_extra=max_body(MAX_FORM_BYTES),
    responses=answers(404, 413, 503, html=(404,)),
)
async def save_preferences(token: Token, request: Request, state: StateDep) -> HTMLResponse:
    claims = _claims(state, token)
    if isinstance(claims, HTMLResponse):
        return claims
    raw = await request.body()  # at most MAX_FORM_BYTES: api/guard.py answered 413 past that
    form = parse_qs(raw.decode("utf-8", errors="replace"))
    # Unticked boxes are not sent: "shown" lists the topics the page offered.
    shown = {t for t in form.get("shown", []) if TOPIC_PATTERN.match(t)}
    ticked = set(form.get("topic", []))
    changes = {topic: topic in ticked for topic in shown}
    changes[ALL_MARKETING] = "no_marketing" not in form
    async with state.db.session() as session:
        claims = await _now_of(session, claims)
        if await get_customer(session, claims.customer_id) is None:
            return _page(done_page(NO_LONGER_ON_FILE))
        await set_subscriptions(state.db, session, claims.customer_id, changes, source="preferences-page")
        if not changes.get(claims.topic, True) or not changes[ALL_MARKETING]:
            await _counted(state, session, claims)
        subs = await _preferences(state, session, claims)
    log.info("customer %s saved email preferences", claims.customer_id)
    return _page(preferences_page(token, claims.topic, subs, saved=True))
