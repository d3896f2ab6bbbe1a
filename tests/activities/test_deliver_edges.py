"""At most once at the edges a review found: a retry past the ESP's dedupe window or the
retry budget, a refusal after a maybe-sent try, cancellation at every point after the
claim, rate-limit waits that are no ESP calls, a lost commit acknowledgement."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import OperationalError
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import activities.sending
from activities.deliver import DeliveryActivities
from activities.ledger import Ledger
from journeys.contracts.activity_io import CancelDeferredInput
from journeys.providers.base import TransientSendError
from journeys.providers.rate_limit import EspRateLimiter
from journeys.providers.resend.sender import ResendSender
from journeys.providers.sendgrid.sender import SendGridSender
from journeys.storage.database import Database
from journeys.storage.settings import PROJECT_ROOT, Settings
from journeys.storage.tables import MessageRow, utcnow
from tests.activities.test_deliver import add_customer, messages, step
from tests.conftest import wait_until
from tests.journeys.providers.conftest import FakeProvider, Reply


@pytest.fixture
def esp() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    provider.start()
    yield provider
    provider.close()


def delivery(db: Any, sender: object, **settings: Any) -> DeliveryActivities:
    return DeliveryActivities(db, sender, Settings(templates_dir=PROJECT_ROOT / "templates", unsubscribe_secret="s", **settings))  # type: ignore[arg-type]


def taken_then(later: list[Reply]) -> Any:
    """An ESP that takes the first request but answers too late, then answers ``later``."""
    got: list[str] = []

    def handler(request: Any) -> Reply:
        got.append(request.headers.get("idempotency-key", ""))
        if len(got) == 1:
            time.sleep(1.0)
            return Reply(200, {"id": "re_first"})
        return later[min(len(got) - 2, len(later) - 1)]

    handler.got = got  # type: ignore[attr-defined]
    return handler


async def test_a_pinned_retry_after_the_esps_dedupe_window_is_unknown_and_calls_no_one(db: Database, esp: FakeProvider) -> None:
    esp.handler = taken_then([Reply(429, {"statusCode": 429, "name": "rate_limit_exceeded", "message": "slow"}, {"Retry-After": "90000"})])
    await add_customer(db, email="ann@example.com")
    acts = delivery(db, ResendSender("k", base_url=esp.url, timeout=0.3))
    with pytest.raises(TransientSendError):
        await ActivityEnvironment().run(acts.deliver, step())
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(acts.deliver, step())
    assert raised.value.next_retry_delay is not None and raised.value.next_retry_delay <= timedelta(hours=1), "within the budget"
    async with db.session() as session:  # Temporal ran the retry 25 h later anyway
        await session.exec(update(MessageRow).values(claimed_at=utcnow() - timedelta(hours=25)))  # type: ignore[call-overload]
        await session.commit()
    result = await ActivityEnvironment().run(acts.deliver, step())
    assert result.status == "unknown" and len(esp.handler.got) == 2, "no third request: Resend has forgotten the key"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "later",
    [Reply(409, {"statusCode": 409, "name": "concurrent_idempotent_requests", "message": "in progress"}),
     Reply(422, {"statusCode": 422, "name": "validation_error", "message": "bad"})],
)
async def test_a_message_that_may_be_out_ends_unknown_never_failed(db: Database, esp: FakeProvider, later: Reply) -> None:
    esp.handler = taken_then([later])
    await add_customer(db, email="ann@example.com")
    acts = delivery(db, ResendSender("k", base_url=esp.url, timeout=0.3), send_max_attempts=3)
    outcome = None
    for _ in range(4):
        try:
            outcome = await ActivityEnvironment().run(acts.deliver, step())
            break
        except TransientSendError:
            continue
    assert outcome is not None and outcome.status == "unknown", "an operator would resend a failed one: a second copy"


async def test_rate_limit_waits_are_no_esp_calls(db: Database, esp: FakeProvider) -> None:
    esp.answer(202, "", {"X-Message-Id": "sg"})
    await add_customer(db, email="ann@example.com")
    acts = delivery(db, SendGridSender("k", base_url=esp.url), sendgrid_rate_limit=10, send_max_attempts=3)
    await EspRateLimiter(db, {"sendgrid": 10}).wait_turn("sendgrid")
    for _ in range(4):  # a backlog: each retry finds the queue a minute long
        async with db.session() as session:
            await session.exec(text("UPDATE esp_rate_slots SET next_at = :t"), params={"t": time.time() + 60})  # type: ignore[call-overload]
            await session.commit()
        with pytest.raises(ApplicationError):
            await ActivityEnvironment().run(acts.deliver, step())
    [row] = await messages(db)
    assert row.status == "retrying" and row.esp_calls == 0 and esp.requests == []


async def test_a_lost_commit_acknowledgement_adds_no_false_note(db: Database, esp: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    esp.answer(202, "", {"X-Message-Id": "sg-1"})
    await add_customer(db, email="ann@example.com")
    monkeypatch.setattr(activities.sending, "RECORD_RETRY_PAUSES", (0.01,))
    armed: list[int] = []
    commit, finish = AsyncSession.commit, Ledger.finish

    async def commit_then_lose_the_answer(self: AsyncSession) -> None:
        await commit(self)
        if armed:
            armed.clear()
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    async def arm_for_sent(self: Ledger, row: MessageRow, status: str, reason: str | None = None, **values: Any) -> bool:
        if status == "sent" and not getattr(arm_for_sent, "done", False):
            arm_for_sent.done = True  # type: ignore[attr-defined]
            armed.append(1)
        return await finish(self, row, status, reason, **values)

    monkeypatch.setattr(AsyncSession, "commit", commit_then_lose_the_answer)
    monkeypatch.setattr(Ledger, "finish", arm_for_sent)
    result = await ActivityEnvironment().run(delivery(db, SendGridSender("k", base_url=esp.url)).deliver, step())
    [row] = await messages(db)
    assert result.status == "sent" and [h["status"] for h in row.history] == ["sending", "sent"]


async def run_and_cancel(act: Any, request: Any, when: Any) -> None:
    env = ActivityEnvironment()
    task = asyncio.create_task(env.run(act, request))
    await when()
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelled_while_recording_sent_it_is_still_recorded(db: Database, esp: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    esp.answer(202, "", {"X-Message-Id": "sg-1"})
    await add_customer(db, email="ann@example.com")
    monkeypatch.setattr(activities.sending, "RECORD_RETRY_PAUSES", (1.0, 1.0))
    finish, failed = Ledger.finish, []

    async def blip_once(self: Ledger, row: MessageRow, status: str, reason: str | None = None, **values: Any) -> bool:
        if status == "sent" and not failed:
            failed.append(1)
            raise OperationalError("UPDATE messages", {}, Exception("server closed the connection unexpectedly"))
        return await finish(self, row, status, reason, **values)

    monkeypatch.setattr(Ledger, "finish", blip_once)

    async def in_the_retry_pause() -> None:
        await wait_until(lambda: asyncio.sleep(0, result=bool(failed)), what="the blip")
        await asyncio.sleep(0.3)

    await run_and_cancel(delivery(db, SendGridSender("k", base_url=esp.url)).deliver, step(), in_the_retry_pause)
    [row] = await messages(db)
    assert row.status == "sent" and len(esp.requests) == 1


async def test_cancelled_while_waiting_for_a_rate_slot_it_is_cancelled_and_not_counted(db: Database, esp: FakeProvider) -> None:
    esp.answer(202, "", {"X-Message-Id": "sg-1"})
    await add_customer(db, email="ann@example.com")
    acts = delivery(db, SendGridSender("k", base_url=esp.url), sendgrid_rate_limit=0.2, frequency_cap_24h=1)
    await EspRateLimiter(db, {"sendgrid": 0.2}).wait_turn("sendgrid")  # the next slot is 5 s away

    async def waiting() -> None:
        await wait_until(lambda: _claimed(db), what="claimed, waiting for its slot")
        await asyncio.sleep(0.3)

    await run_and_cancel(acts.deliver, step(template="getting_started"), waiting)
    [row] = await messages(db)
    assert row.status in ("cancelled", "retrying")  # (ActivityEnvironment reports no cancellation details)
    if row.status == "cancelled":
        other = await ActivityEnvironment().run(
            delivery(db, SendGridSender("k", base_url=esp.url), frequency_cap_24h=1).deliver,
            step(key="journey:other:c1/e9/send:getting_started", template="getting_started"),
        )
        assert other.status == "sent", "a message that never left does not use up the cap"


async def _claimed(db: Database) -> bool:
    return [r.status for r in await messages(db)] == ["sending"]


@pytest.mark.parametrize("order", ["send, then cancel", "cancel, then send"])
async def test_logging_a_deferred_send_cancelled_never_overwrites_one_that_went_out(db: Database, esp: FakeProvider, order: str) -> None:
    """The journey ends while a deferred send wakes up: whichever comes first, the ledger
    tells the truth (a compare-and-set, not a read-modify-write), and at most one email goes."""
    esp.answer(202, "", {"X-Message-Id": "sg-1"})
    await add_customer(db, email="ann@example.com")
    key = "journey:flash:c1/e1/send:getting_started"
    marketing = step(key=key, template="getting_started")
    quiet = delivery(db, SendGridSender("k", base_url=esp.url), quiet_hours="00:00-23:59", frequency_cap_24h=0, frequency_cap_7d=0)
    assert (await ActivityEnvironment().run(quiet.deliver, marketing)).status == "deferred"
    awake = delivery(db, SendGridSender("k", base_url=esp.url), frequency_cap_24h=0, frequency_cap_7d=0)
    cancel = CancelDeferredInput(idempotency_key=key, reason="journey ended")
    if order == "send, then cancel":
        await ActivityEnvironment().run(awake.deliver, marketing)
        await ActivityEnvironment().run(awake.cancel_deferred, cancel)
        expected, history = "sent", ["deferred", "sending", "sent"]
    else:
        await ActivityEnvironment().run(awake.cancel_deferred, cancel)
        await ActivityEnvironment().run(awake.deliver, marketing)
        expected, history = "cancelled", ["deferred", "cancelled"]
    [row] = await messages(db)
    assert row.status == expected and [h["status"] for h in row.history] == history
    assert len(esp.requests) == (1 if expected == "sent" else 0)


async def test_the_longest_step_key_there_can_be_is_stored_and_guards_its_send(db: Database, tmp_path: Any) -> None:
    """The widest ids the API takes, in a keyed journey: PostgreSQL once refused the key
    (VARCHAR(600)), so the step could never record, and so never send."""
    from journeys.contracts.journey_spec import workflow_id
    from journeys.devstack.mail_catcher import MailCatcher, read_mailbox
    from tests.activities.test_deliver import delivery as smtp_delivery
    from tests.conftest import free_port

    customer = "c" * 200
    key = f"{workflow_id('abandoned_cart', customer, 'k' * 776)}/{'e' * 200}/send:welcome"
    assert len(key) > 1200
    await add_customer(db, customer, email="ann@example.com")
    with MailCatcher(tmp_path / "mail", port=free_port()) as catcher:
        acts = smtp_delivery(db, catcher.port)
        first = await ActivityEnvironment().run(acts.deliver, step(key, customer=customer))
        again = await ActivityEnvironment().run(acts.deliver, step(key, customer=customer))
        assert first.status == "sent" and again.status == "sent"
        assert len(read_mailbox(catcher.directory)) == 1, "the retry found the ledger row: sent once"
