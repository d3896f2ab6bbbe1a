"""Test sends: one template, rendered as its preview (journeys/operations/template_preview.py),
sent through the configured ESP to an address the operator names.

Sent from the API process itself, not through Temporal: the answer says what the ESP said
(a test send is for seeing the email now, and a durable retry hours later would defeat
it). ``sender_from_settings`` builds the ESP adapter (or failover chain) for each test
send and closes it after; the per-ESP rate limits (``JOURNEYS_<ESP>_RATE_LIMIT``) hold.

What applies and what does not:

- **suppression applies**: an address suppressed for the template's kind of mail (any
  reason for marketing; a hard bounce for transactional, as journeys/consent/policy.py) is
  refused with nothing sent and nothing logged;
- subscriptions, quiet hours and frequency caps do not (the address is not the
  customer's, and an operator asked for it now); a test send counts toward no cap;
- **at most once**: the client's ``id`` is the idempotency key (``test-send:<id>`` in the
  message log). The row is written ``sending`` and committed before the ESP is called; the
  same id again answers from the log and sends nothing. Only a failure that proves nothing
  went out (the ESP away, 429, a refused connection) leaves the row ``retrying``, and the
  same id then sends; one that may have reached the ESP is ``unknown``, for good;
- **marked as a test** in the message log (``test``, step ``test send``), under the
  customer rendered (``sample-<template>`` for the sample); never counted in analytics
  (no roll-up is bumped), never a dead letter (a failed one is set aside as discarded:
  the caller got the ESP's answer);
- not tracked, like a preview: links as written, no open pixel.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import update
from sqlmodel import col, select

from journeys.consent.suppressions import STOPS_TRANSACTIONAL, suppress, suppressions_of
from journeys.operations.template_preview import Previewer, Rendered
from journeys.providers import sender_from_settings
from journeys.providers.base import MissingSetting, OutgoingEmail, PermanentSendError, TransientSendError
from journeys.providers.failover import as_chain
from journeys.providers.rate_limit import EspRateLimiter
from journeys.storage.database import Database
from journeys.storage.settings import Settings
from journeys.storage.tables import MessageRow, utcnow

log = logging.getLogger("journeys.test_send")

STEP = "test send"
KEY_PREFIX = "test-send:"
# A row still ``sending`` this long after its claim belongs to a request that died mid-send.
STALE_AFTER = timedelta(minutes=2)
RATE_WAIT_SECONDS = 5.0  # an API request waits this long at most for an ESP's rate-limit slot
MAYBE_OUT = "may have been sent; not sent again"

Status = Literal["sent", "sending", "retrying", "failed", "unknown"]


class TemplateTestSend(BaseModel):
    id: str = Field(description="your idempotency key for this test send")
    message_id: str = Field(description="the message log's id")
    template: str
    to: str
    customer_id: str = Field(description="whose data it was rendered with (sample-<template> for the sample)")
    subject: str | None
    status: Status = Field(description="sent; or, for a repeated id, what became of the first: sending, unknown, ...")
    reason: str | None
    duplicate: bool = Field(description="the id was used before: this is the first send's outcome, nothing more was sent")
    esp: str | None
    esp_message_id: str | None
    sent_at: datetime | None


class IdConflict(Exception):
    """The id was used for a test send of another template or to another address."""


class Suppressed(Exception):
    """The address is suppressed for this kind of mail: nothing was sent."""


class EspRefused(Exception):
    """The ESP refused the email, or it may have reached the ESP without an answer (502)."""


class EspUnavailable(Exception):
    """The ESP could not take it now and nothing went out: send again (503)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def message_id_for(key: str) -> str:
    """The message log id of a test send, derived from its key (as activities/ledger.py does)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _entry(at: datetime, status: str, reason: str | None = None) -> dict[str, Any]:
    return {"at": at.isoformat(timespec="milliseconds"), "status": status, "reason": reason}


def _result(row: MessageRow, request_id: str, duplicate: bool) -> TemplateTestSend:
    return TemplateTestSend(
        id=request_id, message_id=row.id, template=row.template, to=row.to_email or "", customer_id=row.customer_id,
        subject=row.subject, status=row.status, reason=row.reason, duplicate=duplicate,  # type: ignore[arg-type]
        esp=row.esp, esp_message_id=row.esp_message_id, sent_at=row.sent_at,
    )


async def send_test(
    db: Database,
    previewer: Previewer,
    settings: Settings,
    *,
    request_id: str,
    to: str,
    template: str,
    customer_id: str | None = None,
    context: dict[str, Any] | None = None,
    locale: str | None = None,
) -> TemplateTestSend:
    """Send (or, for an id seen before, answer from the log); raises what the route answers:
    UnknownTemplate / UnknownCustomer (404), RenderFailed (422), IdConflict and Suppressed
    (409), EspRefused (502), EspUnavailable (503)."""
    key = KEY_PREFIX + request_id
    earlier = await _answer_repeat(db, key, request_id, template, to)
    if earlier is not None:
        return earlier
    rendered = await previewer.preview(db, template, customer_id=customer_id, context=context, locale=locale, to=to)
    async with db.session() as session:
        stops = await suppressions_of(session, to)
    if not rendered.info.is_marketing:
        stops = [row for row in stops if row.reason in STOPS_TRANSACTIONAL]
    if stops:
        first = stops[0]
        scope = "all mail" if first.reason in STOPS_TRANSACTIONAL else "marketing"
        raise Suppressed(
            f"{to} is suppressed for {scope}: {first.reason.replace('_', ' ')} ({first.source}, "
            f"{first.created_at:%Y-%m-%d %H:%M} UTC); nothing was sent"
        )
    row = await _claim(db, key, rendered, to)
    if row is None:  # another request with this id got there first
        again = await _answer_repeat(db, key, request_id, template, to)
        assert again is not None
        return again
    return await _send(db, settings, row, rendered, request_id)


async def _answer_repeat(db: Database, key: str, request_id: str, template: str, to: str) -> TemplateTestSend | None:
    """The first send's outcome for an id seen before; None if this request is to send
    (a new id, or one whose earlier attempt proved nothing went out)."""
    async with db.session() as session:
        row = (await session.exec(select(MessageRow).where(MessageRow.idempotency_key == key))).first()
        if row is None:
            return None
        if row.template != template or (row.to_email or "").lower() != to.lower():
            raise IdConflict(
                f"test send {request_id!r} was of {row.template!r} to {row.to_email}: use a new id for another test send"
            )
        if row.status == "retrying":
            return None
        if row.status == "sending" and row.updated_at < utcnow() - STALE_AFTER:
            await _move(db, row, "unknown", f"the request sending it stopped mid-send; {MAYBE_OUT}", resolved=True)
            await session.refresh(row)
    if row.status == "failed":
        raise EspRefused(f"{row.reason} (test send {request_id!r}: nothing was sent, nor will be for this id)")
    if row.status == "unknown":
        raise EspRefused(f"{row.reason} (test send {request_id!r})")
    return _result(row, request_id, duplicate=True)


async def _claim(db: Database, key: str, rendered: Rendered, to: str) -> MessageRow | None:
    """The row ``sending``, committed before anyone calls the ESP; None if another request holds it."""
    now = utcnow()
    preview = rendered.preview
    history = [_entry(now, "sending", f"test send to {to}")]
    async with db.session() as session:
        existing = (await session.exec(select(MessageRow).where(MessageRow.idempotency_key == key))).first()
        if existing is not None:  # retrying: this request sends, if it wins the compare-and-set
            moved = await session.exec(  # type: ignore[call-overload]
                update(MessageRow)
                .where(col(MessageRow.id) == existing.id, col(MessageRow.status) == "retrying",
                       col(MessageRow.attempts) == existing.attempts)
                .values(status="sending", reason=None, subject=preview.subject, attempts=existing.attempts + 1,
                        updated_at=now, history=db.json_append(MessageRow.history, history[0]))
                .returning(col(MessageRow.id))
                .execution_options(synchronize_session=False)
            )
            claimed = moved.first() is not None
            await session.commit()
            if not claimed:
                return None
            await session.refresh(existing)
            return existing
        row = MessageRow(
            id=message_id_for(key), idempotency_key=key, customer_id=preview.customer_id, journey=None, step=STEP,
            template=preview.template, to_email=to, subject=preview.subject, category=preview.category,
            topic=preview.topic, status="sending", history=history, attempts=1, context=rendered.context,
            test=True, created_at=now, updated_at=now,
            # No claimed_at: what frequency caps count. No counted_at: what analytics count.
        )
        inserted = await session.exec(  # type: ignore[call-overload]
            db.insert(MessageRow).values(row.model_dump())
            .on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(col(MessageRow.id))
        )
        won = inserted.first() is not None
        await session.commit()
    return row if won else None


async def _send(db: Database, settings: Settings, row: MessageRow, rendered: Rendered, request_id: str) -> TemplateTestSend:
    preview = rendered.preview
    extra = {k: v for k, v in preview.headers.items() if k not in ("From", "To", "Subject")}
    outgoing = OutgoingEmail(
        message_id=row.id, to=row.to_email or "", from_=preview.headers["From"], subject=preview.subject,
        html=preview.html, text=preview.text, headers=extra,
        metadata={"category": preview.category, "customer_id": preview.customer_id, "template": preview.template,
                  "journey": "", "step": STEP, "test": "true"},
    )
    limits = settings.esp_rate_limits
    rates = EspRateLimiter(db, limits, max_wait=RATE_WAIT_SECONDS).wait_turn if limits else None
    try:
        sender = as_chain(sender_from_settings(settings))
    except (MissingSetting, ValueError) as exc:
        await _move(db, row, "failed", f"the ESP is not set up in the API process: {exc}", resolved=True)
        raise EspRefused(f"the ESP is not set up in the API process: {exc}; nothing was sent") from exc
    try:
        esp, esp_message_id = await sender.send_via(outgoing, before=rates)
    except PermanentSendError as exc:
        reason = f"refused by {exc.esp or 'the ESP'}: {exc}"
        if exc.hard_bounce:
            async with db.session() as session:
                await suppress(db, session, outgoing.to, "hard_bounce", source=exc.esp or "esp")
                await session.commit()
            reason += " (address suppressed: hard bounce)"
        await _move(db, row, "failed", reason, esp=exc.esp, resolved=True)
        raise EspRefused(f"{reason}; nothing was sent") from exc
    except TransientSendError as exc:
        if exc.maybe_sent:
            reason = f"{exc} ({MAYBE_OUT})"
            await _move(db, row, "unknown", reason, esp=exc.esp, resolved=True)
            raise EspRefused(reason) from exc
        await _move(db, row, "retrying", str(exc), esp=exc.esp)
        raise EspUnavailable(
            f"{exc.esp or 'the ESP'} could not take it now: {exc}; nothing was sent: send again (the same id)", exc.retry_after
        ) from exc
    except Exception as exc:  # an adapter's surprise: it may have gone out, never a 500
        log.exception("test send %s: the ESP call failed unexpectedly", row.id)
        reason = f"the ESP call failed: {type(exc).__name__}: {exc} ({MAYBE_OUT})"
        await _move(db, row, "unknown", reason, resolved=True)
        raise EspRefused(reason) from exc
    finally:
        await sender.aclose()
    await _move(db, row, "sent", None, esp=esp, esp_message_id=esp_message_id or None, sent_at=utcnow())
    log.info("test send of %s to %s via %s (message %s)", preview.template, row.to_email, esp, row.id)
    async with db.session() as session:
        sent = await session.get(MessageRow, row.id)
    assert sent is not None
    return _result(sent, request_id, duplicate=False)


async def _move(db: Database, row: MessageRow, status: str, reason: str | None, *, resolved: bool = False, **values: Any) -> None:
    """Record the outcome, from ``sending`` (compare-and-set on the attempt that claimed it).
    ``resolved``: a failed or unknown test send is set aside at once, never a dead letter."""
    now = utcnow()
    if resolved:
        values.update(resolution="discarded", resolved_at=now)
    async with db.session() as session:
        await session.exec(  # type: ignore[call-overload]
            update(MessageRow)
            .where(col(MessageRow.id) == row.id, col(MessageRow.status) == "sending", col(MessageRow.attempts) == row.attempts)
            .values(status=status, reason=reason, updated_at=now, history=db.json_append(MessageRow.history, _entry(now, status, reason)),
                    **values)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
