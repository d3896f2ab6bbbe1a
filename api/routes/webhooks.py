"""``POST /v1/webhooks/{provider}``: what ESPs learn about our mail, verified their own way.

SendGrid (ECDSA signed event webhook), Mailgun (HMAC, fresh timestamp, unused token),
Postmark (basic auth in the webhook URL), Amazon SES through SNS (message signature, the
certificate's host allow-listed, subscriptions confirmed), Resend (Svix signature). A
request that fails verification gets a 401 and changes nothing. What passes is recorded
by journeys/intake/email_feedback.py: events for journeys, suppression for bounces and complaints.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Annotated

import httpx
from fastapi import APIRouter, Path, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.answers import answers
from api.bodies import BodyTooLarge, read_body
from api.guard import max_body
from api.deps import StateDep
from journeys.intake.email_feedback import record_email_events
from journeys.intake.machines import Rules
from journeys.storage.settings import Settings
from journeys.storage.tables import WebhookTokenRow, utcnow
from journeys.providers.mailgun import webhook as mailgun
from journeys.providers.postmark import webhook as postmark
from journeys.providers.resend import webhook as resend
from journeys.providers.sendgrid import webhook as sendgrid
from journeys.providers.ses import webhook as ses
from journeys.providers.email_events import EmailEvent, WebhookRejected
from journeys.telemetry import log_context, metrics

log = logging.getLogger("journeys.webhooks")
router = APIRouter(tags=["webhooks"])

MAX_BODY_BYTES = 5 * 1024 * 1024
Provider = Annotated[str, Path(description="sendgrid, mailgun, postmark, ses or resend")]


class NotConfigured(Exception):
    pass


def _need(value: str | None, setting: str, provider: str) -> str:
    if not value:
        raise NotConfigured(f"webhooks from {provider} are not configured: set {setting}")
    return value


async def _fetch(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=10.0) as http:
        answer = await http.get(url)
        answer.raise_for_status()
        return answer.content


async def _events(provider: str, body: bytes, headers: dict[str, str], state: StateDep) -> list[EmailEvent] | JSONResponse:
    s: Settings = state.settings
    now = utcnow()
    if provider == "sendgrid":
        key = _need(s.sendgrid_webhook_public_key, "JOURNEYS_SENDGRID_WEBHOOK_PUBLIC_KEY", provider)
        return sendgrid.events_from_request(body, headers, public_key=key, now=now)
    if provider == "mailgun":
        key = _need(s.mailgun_webhook_signing_key, "JOURNEYS_MAILGUN_WEBHOOK_SIGNING_KEY", provider)
        events, token = mailgun.events_from_request(body, headers, signing_key=key, now=now)
        if not await _first_use(state, provider, token):  # signature and timestamp were good
            raise WebhookRejected("this request was seen before (token replayed)")
        return events
    if provider == "postmark":
        user = _need(s.postmark_webhook_username, "JOURNEYS_POSTMARK_WEBHOOK_USERNAME", provider)
        password = _need(s.postmark_webhook_password, "JOURNEYS_POSTMARK_WEBHOOK_PASSWORD", provider)
        return postmark.events_from_request(body, headers, username=user, password=password)
    if provider == "ses":
        # Without a topic list anyone's SNS topic could subscribe and publish signed bounces.
        _need(s.ses_sns_topic_arns, "JOURNEYS_SES_SNS_TOPIC_ARNS", provider)
        result = await ses.events_from_request(
            body,
            headers,
            fetch_certificate=_fetch,
            topic_arns=[t.strip() for t in s.ses_sns_topic_arns.split(",") if t.strip()],
            host_pattern=re.compile(s.sns_certificate_host_pattern),
            schemes=frozenset(x.strip() for x in s.sns_certificate_schemes.split(",") if x.strip()),
        )
        if result.subscribe_url:  # verified, and its host allow-listed: confirm the subscription
            await _fetch(result.subscribe_url)
            return JSONResponse({"confirmed": result.topic_arn})
        return result.events
    if provider == "resend":
        secret = _need(s.resend_webhook_secret, "JOURNEYS_RESEND_WEBHOOK_SECRET", provider)
        return resend.events_from_request(body, headers, secret=secret, now=now)
    raise NotConfigured(f"unknown provider {provider!r}: sendgrid, mailgun, postmark, ses or resend")


async def _first_use(state: StateDep, provider: str, token: str) -> bool:
    async with state.db.session() as session:
        inserted = await session.exec(  # type: ignore[call-overload]
            state.db.insert(WebhookTokenRow)
            .values(provider=provider, token=token[:200], seen_at=utcnow())
            .on_conflict_do_nothing(index_elements=["provider", "token"])
            .returning(WebhookTokenRow.token)
        )
        first = inserted.first() is not None
        # Tokens older than the freshness window can never verify again: forget them.
        await session.exec(  # type: ignore[call-overload]
            WebhookTokenRow.__table__.delete().where(WebhookTokenRow.__table__.c.seen_at < utcnow() - timedelta(hours=1))  # type: ignore[attr-defined]
        )
        await session.commit()
    return first


class WebhookReceived(BaseModel):
    """What was taken: events received, stored and seen before; or, for an SNS
    subscription request, the topic confirmed."""

    received: int | None = None
    stored: int | None = None
    duplicates: int | None = None
    confirmed: str | None = None


@router.post(
    "/v1/webhooks/{provider}",
    summary="Delivery, bounce, complaint, open and click events from an ESP",
    openapi_extra=max_body(MAX_BODY_BYTES),
    response_model=WebhookReceived,
    responses=answers(400, 401, 404, 413, 422, 502, 503),
)
async def receive_webhook(provider: Provider, request: Request, state: StateDep) -> JSONResponse:
    try:
        body = await read_body(request, MAX_BODY_BYTES)
    except BodyTooLarge as exc:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_413_CONTENT_TOO_LARGE)
    try:
        events = await _events(provider, body, dict(request.headers), state)
    except NotConfigured as exc:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)
    except WebhookRejected as exc:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)
    except httpx.HTTPError as exc:  # SNS certificate or confirmation unreachable: SNS retries
        return JSONResponse({"detail": f"could not reach SNS: {exc}"}, status_code=status.HTTP_502_BAD_GATEWAY)
    if isinstance(events, JSONResponse):
        return events
    # The lines about these events name the messages they are about (README, "Metrics and logs").
    with log_context.bound(message_id=log_context.joined(e.message_id or "" for e in events)):
        with metrics.timed(metrics.INGEST_DURATION):
            result = await record_email_events(
                state.db, events, state.outbox.registry.cares_about, rules=Rules.from_settings(state.settings)
            )
        metrics.count_intake("webhook", len(result.accepted), len(result.duplicate_ids))
        log.info("webhook from %s: %d events, %d stored, %d duplicates", provider, len(events), len(result.accepted), len(result.duplicate_ids))
    state.outbox.submit(result.to_dispatch)
    return JSONResponse({"received": len(events), "stored": len(result.accepted), "duplicates": len(result.duplicate_ids)})
