"""Per-ESP rate limits held across workers through the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time

import pytest

from journeys.providers.base import OutgoingEmail, TransientSendError
from journeys.providers.failover import as_chain
from journeys.providers.rate_limit import EspRateLimiter
from journeys.providers.resend.sender import ResendSender
from journeys.storage.database import Database
from tests.journeys.providers.conftest import FakeProvider, Reply


LATENESS = 0.15  # seconds a rate-limited send may leave after its slot, at most


def email(n: int) -> OutgoingEmail:
    return OutgoingEmail(message_id=f"m{n}", to="ann@example.com", from_="shop@example.com", subject="Hi", html="<p>Hi</p>", text="Hi")


async def test_two_workers_together_keep_to_the_esps_rate(db: Database, fake: FakeProvider) -> None:
    arrived: list[float] = []

    def answer(request: object) -> Reply:
        arrived.append(time.monotonic())
        return Reply(200, {"id": f"re-{len(arrived)}"})

    fake.handler = answer
    rate, count = 20.0, 30
    workers = [EspRateLimiter(db, {"resend": rate}), EspRateLimiter(db, {"resend": rate})]  # two processes' limiters
    sender = as_chain(ResendSender("re_key", base_url=fake.url))  # how deliver sends: a chain of one
    try:
        started = time.monotonic()
        await asyncio.gather(*[sender.send_via(email(n), before=workers[n % 2].wait_turn) for n in range(count)])
    finally:
        await sender.aclose()
    assert len(arrived) == count
    assert arrived[-1] - started >= (count - 1) / rate - 0.1  # one slot every 1/rate seconds
    # A send leaves a little after its slot (event loop, waits on the shared row), and the
    # lateness varies, so arrivals bunch a little: allow any one second the slots of
    # 1 s + LATENESS. Two limiters keeping separate rates would put all 30 in one second.
    busiest = max(sum(1 for t in arrived if start <= t < start + 1.0) for start in arrived)
    assert busiest <= rate + round(rate * LATENESS) + 1, f"{busiest} sends in one second at {rate}/s"


async def test_an_esp_without_a_limit_is_not_held(db: Database) -> None:
    limiter = EspRateLimiter(db, {"sendgrid": 1.0})
    started = time.monotonic()
    for _ in range(5):
        await limiter.wait_turn("resend")
    assert time.monotonic() - started < 0.5


async def test_a_slot_too_far_away_is_a_retry_later(db: Database) -> None:
    limiter = EspRateLimiter(db, {"resend": 1.0}, max_wait=0.5, clock=lambda: 1_000_000.0)  # time stands still
    await limiter.wait_turn("resend")  # the slot now
    with pytest.raises(TransientSendError) as raised:
        await limiter.wait_turn("resend")  # the next, a second away: beyond max_wait
    assert raised.value.retry_after == pytest.approx(1.0)


async def test_sends_told_to_come_back_later_do_not_use_up_slots(db: Database) -> None:
    """Under a backlog, refused sends must not push the queue further away (or nothing goes)."""
    limiter = EspRateLimiter(db, {"resend": 1.0}, max_wait=0.5, clock=lambda: 2_000_000.0)
    await limiter.wait_turn("resend")
    for _ in range(20):  # many retries while the next slot is still a second away
        with pytest.raises(TransientSendError) as raised:
            await limiter.wait_turn("resend")
        assert raised.value.retry_after == pytest.approx(1.0)  # the same slot, not one further on
