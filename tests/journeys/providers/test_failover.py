"""Failover between real adapters talking to failing, healthy and silent ESPs on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from journeys.providers.base import OutgoingEmail, TransientSendError
from journeys.providers.failover import CircuitBreaker, FailoverSender
from journeys.providers.resend.sender import ResendSender
from tests.journeys.providers.conftest import FakeProvider, Reply


def email(n: int = 1) -> OutgoingEmail:
    return OutgoingEmail(message_id=f"m{n}", to="ann@example.com", from_="Shop <shop@example.com>", subject="Hi", html="<p>Hi</p>", text="Hi")


@pytest.fixture
def backup() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    provider.start()
    provider.handler = lambda request: Reply(200, {"id": f"backup-{len(provider.requests)}"})
    yield provider
    provider.close()


def chain(primary: FakeProvider, backup: FakeProvider, cooldown: float = 30.0, timeout: float = 5.0) -> FailoverSender:
    first = ResendSender("re_primary", base_url=primary.url, timeout=timeout)
    second = ResendSender("re_backup", base_url=backup.url, timeout=timeout)
    second.name = "resend-backup"  # two accounts of one provider, told apart
    return FailoverSender([first, second], failure_threshold=3, cooldown=cooldown)


def test_the_breaker_opens_after_failures_in_a_row_and_half_opens_after_the_cooldown() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, cooldown=10, clock=lambda: now[0])
    breaker.failed(), breaker.failed()
    assert breaker.state == "closed"
    breaker.succeeded()  # a success resets the count
    breaker.failed(), breaker.failed(), breaker.failed()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 10.0
    assert breaker.state == "half-open" and breaker.allow()  # the one trial
    assert not breaker.allow(), "no second send while the trial is out"
    breaker.failed()  # the trial failed: open again for a full cooldown
    assert breaker.state == "open"
    now[0] = 20.0
    breaker.succeeded()
    assert breaker.state == "closed"


async def test_a_failing_primary_sends_go_to_the_backup_until_it_recovers(fake: FakeProvider, backup: FakeProvider) -> None:
    fake.answer(503, {"statusCode": 503, "name": "internal_server_error", "message": "down"})
    sender = chain(fake, backup, cooldown=0.3)
    try:
        for n in range(3):  # each tried on the primary first, then sent by the backup
            assert await sender.send_via(email(n)) == ("resend-backup", f"backup-{n + 1}")
        assert len(fake.requests) == 3 and sender.breakers["resend"].state == "open"
        await sender.send_via(email(3))
        assert len(fake.requests) == 3  # circuit open: the primary is left alone
        fake.answer(200, {"id": "primary-ok"})
        await asyncio.sleep(0.35)  # the cooldown passes: one trial on the primary
        assert await sender.send_via(email(4)) == ("resend", "primary-ok")
        assert sender.breakers["resend"].state == "closed"
        assert [r.json()["subject"] for r in backup.requests] == ["Hi"] * 4
    finally:
        await sender.aclose()


async def test_a_send_that_may_have_reached_the_primary_is_never_given_to_the_backup(fake: FakeProvider, backup: FakeProvider) -> None:
    fake.hang()  # takes the request, never answers: maybe sent
    sender = chain(fake, backup, timeout=0.2)
    try:
        with pytest.raises(TransientSendError) as raised:
            await sender.send_via(email())
        assert raised.value.maybe_sent and raised.value.esp == "resend"
        assert backup.requests == []
        # The retry of that message is pinned to the primary (the ledger passes only=).
        with pytest.raises(TransientSendError):
            await sender.send_via(email(), only="resend")
        assert backup.requests == []
    finally:
        await sender.aclose()


async def test_a_refusal_is_not_failed_over(fake: FakeProvider, backup: FakeProvider) -> None:
    from journeys.providers.base import PermanentSendError

    fake.answer(422, {"statusCode": 422, "name": "validation_error", "message": "Invalid `to` field."})
    sender = chain(fake, backup)
    try:
        with pytest.raises(PermanentSendError) as raised:
            await sender.send_via(email())
        assert raised.value.esp == "resend" and backup.requests == []
    finally:
        await sender.aclose()
