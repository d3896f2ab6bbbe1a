"""The ledger counts each step once, in the hour it reached its final status: a send
deferred overnight counts in the morning it went out, and a deferred send the journey's
end cancelled counts as cancelled, however it got there."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.testing import ActivityEnvironment

import activities.ledger as ledger_module
from activities.deliver import DeliveryActivities
from activities.ledger import Ledger
from journeys.analytics.report import figures
from journeys.contracts.activity_io import CancelDeferredInput, DeliverInput
from journeys.storage.database import Database
from journeys.storage.tables import utcnow
from journeys.templating.catalog import TemplateInfo

INFO = TemplateInfo(name="welcome", category="marketing", topic="offers")


def step(n: int) -> DeliverInput:
    return DeliverInput(
        idempotency_key=f"journey:welcome:ann/e{n}/send:welcome", customer_id="ann", template="welcome",
        journey="welcome", step="send:welcome", entry_id=f"e{n}",
    )


async def test_a_send_deferred_overnight_counts_in_the_hour_it_went_out(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    now = utcnow()
    evening = now - timedelta(hours=10)  # quiet hours began then
    monkeypatch.setattr(ledger_module, "utcnow", lambda: evening)
    async with db.session() as session:
        deferred = await Ledger(db, session, step(1), evening).decide(None, "deferred", "quiet hours", info=INFO, until=now)
    assert deferred.status == "deferred"
    monkeypatch.setattr(ledger_module, "utcnow", utcnow)
    async with db.session() as session:  # the morning: it goes out
        ledger = Ledger(db, session, step(1), now)
        row = await ledger.claim("ann@example.com", "Welcome", INFO)
        assert row is not None and await ledger.finish(row, "sent", esp="smtp", sent_at=utcnow())
    this_hour = await figures(db, "welcome", now - timedelta(minutes=1), now + timedelta(minutes=1), min_sample=1)
    that_evening = await figures(db, "welcome", evening, evening + timedelta(minutes=1), min_sample=1)
    assert [s.sent for s in this_hour.steps] == [1]
    assert [s.sent for s in that_evening.steps] in ([], [0])


async def test_a_deferred_send_cancelled_by_the_journeys_end_is_counted_cancelled(db: Database) -> None:
    async with db.session() as session:
        await Ledger(db, session, step(2), utcnow()).decide(None, "deferred", "quiet hours", info=INFO, until=utcnow() + timedelta(hours=8))
    delivery = object.__new__(DeliveryActivities)  # cancel_deferred needs the database only
    delivery.db = db
    cancel = CancelDeferredInput(idempotency_key=step(2).idempotency_key, reason="journey ended")
    await ActivityEnvironment().run(delivery.cancel_deferred, cancel)
    await ActivityEnvironment().run(delivery.cancel_deferred, cancel)  # again (a retry): counted once
    async with db.session() as session:  # the same status reached through a send attempt
        ledger = Ledger(db, session, step(3), utcnow())
        row = await ledger.claim("ann@example.com", "Welcome", INFO)
        assert row is not None
        await ledger.finish(row, "cancelled", "the journey ended before the send went out")
    [send] = (await figures(db, "welcome", None, None, min_sample=1)).steps
    assert send.not_sent == {"cancelled": 2}
