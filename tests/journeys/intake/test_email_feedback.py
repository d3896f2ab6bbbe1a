"""ESP feedback (delivered, bounced, complained, opened, clicked) becomes one stored event per provider event, on the right message, and bounces and complaints suppress the address."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any
from unittest.mock import patch

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.consent.suppressions import suppressions_of
from journeys.contracts.events import derived_id
from journeys.intake.email_feedback import record_email_events
from journeys.providers.email_events import BOUNCED, CLICKED, COMPLAINED, DELIVERED, OPENED, EmailEvent
from journeys.storage.analytics_tables import MessageEventRow
from journeys.storage.database import Database
from journeys.storage.tables import DispatchRow, EventRow, MessageRow

AT = datetime(2026, 11, 29, 10, 0, 5, tzinfo=timezone.utc)
SENT_AT = datetime(2026, 11, 29, 9, 59, tzinfo=timezone.utc)
SENT = {"at": "2026-11-29T09:59:00+00:00", "status": "sent", "reason": None}


def feedback(
    type: str = DELIVERED,
    *,
    provider: str = "sendgrid",
    event_id: str = "pe-1",
    email: str | None = "ann@example.com",
    message_id: str | None = "msg-1",
    esp_message_id: str | None = None,
    occurred_at: datetime = AT,
    **extra: Any,
) -> EmailEvent:
    """A normalised webhook event, as the provider verifiers hand them over."""
    return EmailEvent(
        provider=provider, provider_event_id=event_id, type=type, email=email, message_id=message_id,
        esp_message_id=esp_message_id, occurred_at=occurred_at, **extra,
    )


async def add_message(
    db: Database,
    id: str = "msg-1",
    *,
    customer: str = "ann",
    to_email: str | None = "ann@example.com",
    esp_message_id: str | None = None,
    journey: str | None = "promo",
    template: str = "promo",
) -> None:
    """A message of ours in the ledger, sent through an ESP a minute before the events (a
    click within seconds of sending would be a link scanner's)."""
    now = SENT_AT
    async with db.session() as session:
        session.add(
            MessageRow(
                id=id, idempotency_key=f"journey:{journey}:{customer}/e1/send:{id}", customer_id=customer, journey=journey,
                template=template, category="marketing", topic="offers", to_email=to_email, status="sent", esp="sendgrid",
                esp_message_id=esp_message_id, history=[SENT], created_at=now, updated_at=now, sent_at=now,
            )
        )
        await session.commit()


def everything(_: str) -> bool:
    return True


async def events(db: Database) -> list[EventRow]:
    async with db.session() as session:
        return list((await session.exec(select(EventRow).order_by(col(EventRow.timestamp), col(EventRow.type)))).all())


async def facts(db: Database) -> list[MessageEventRow]:
    async with db.session() as session:
        return list((await session.exec(select(MessageEventRow).order_by(col(MessageEventRow.occurred_at)))).all())


async def outbox(db: Database) -> list[str]:
    async with db.session() as session:
        return sorted(row.event_id for row in (await session.exec(select(DispatchRow))).all())


async def history(db: Database, message_id: str = "msg-1") -> list[dict[str, Any]]:
    async with db.session() as session:
        row = await session.get(MessageRow, message_id)
        assert row is not None
        return row.history


async def suppressed(db: Database, email: str = "ann@example.com") -> list[tuple[str, str]]:
    async with db.session() as session:
        return [(row.reason, row.source) for row in await suppressions_of(session, email)]


# ----- matching the message -------------------------------------------------------------------


async def test_an_event_with_our_message_id_becomes_an_event_of_the_messages_customer(db: Database) -> None:
    await add_message(db, customer="ann-42", to_email="ann@example.com", journey="promo", template="spring_sale")
    result = await record_email_events(db, [feedback(OPENED, provider="postmark")], everything)

    [event] = result.accepted
    [row] = await events(db)
    assert (row.id, row.type, row.customer_id, row.timestamp) == (event.id, OPENED, "ann-42", AT)
    assert row.properties == {
        "message_id": "msg-1", "template": "spring_sale", "journey": "promo", "provider": "postmark", "email": "ann@example.com",
    }


@pytest.mark.parametrize(
    ("in_ledger", "in_webhook"),
    [("abc@esp.example", "abc@esp.example"), ("<abc@esp.example>", "abc@esp.example"),
     ("abc@esp.example", "<abc@esp.example>"), ("<abc@esp.example>", "<abc@esp.example>")],
)
async def test_an_event_without_our_id_is_matched_by_the_esps_message_id_with_or_without_angle_brackets(
    db: Database, in_ledger: str, in_webhook: str
) -> None:
    await add_message(db, "msg-other", customer="bob", to_email="bob@example.com", esp_message_id="zzz@esp.example")
    await add_message(db, "msg-7", customer="ann", esp_message_id=in_ledger)
    await record_email_events(db, [feedback(message_id=None, esp_message_id=in_webhook)], everything)

    [row] = await events(db)
    assert (row.customer_id, row.properties["message_id"]) == ("ann", "msg-7")
    assert [h["status"] for h in await history(db, "msg-7")] == ["sent", DELIVERED]
    assert await history(db, "msg-other") == [SENT]


async def test_our_message_id_wins_over_the_esps_message_id(db: Database) -> None:
    await add_message(db, "msg-1", customer="ann")
    await add_message(db, "msg-2", customer="bob", to_email="bob@example.com", esp_message_id="esp-2")
    await record_email_events(db, [feedback(message_id="msg-1", esp_message_id="esp-2")], everything)
    [row] = await events(db)
    assert (row.customer_id, row.properties["message_id"]) == ("ann", "msg-1")


async def test_an_id_of_ours_that_is_not_in_the_ledger_falls_back_to_the_esps_message_id(db: Database) -> None:
    await add_message(db, "msg-2", customer="bob", to_email="bob@example.com", esp_message_id="esp-2")
    await record_email_events(db, [feedback(message_id="msg-gone", esp_message_id="esp-2", email="bob@example.com")], everything)
    [row] = await events(db)
    assert (row.customer_id, row.properties["message_id"]) == ("bob", "msg-2")


@pytest.mark.parametrize(("message_id", "esp_message_id"), [("msg-unknown", None), (None, "esp-unknown"), (None, None)])
async def test_an_event_for_no_message_of_ours_is_not_stored(
    db: Database, message_id: str | None, esp_message_id: str | None
) -> None:
    await add_message(db, esp_message_id="esp-1")
    result = await record_email_events(
        db, [feedback(OPENED, message_id=message_id, esp_message_id=esp_message_id)], everything
    )
    assert result.accepted == [] and result.to_dispatch == []
    assert await events(db) == [] and await outbox(db) == []
    assert await history(db) == [SENT]


async def test_only_the_events_that_match_a_message_are_stored_from_a_mixed_batch(db: Database) -> None:
    await add_message(db)
    batch = [feedback(OPENED, event_id="a", message_id="nope"), feedback(CLICKED, event_id="b", url="https://shop.example.com/")]
    result = await record_email_events(db, batch, everything)
    assert [e.type for e in result.accepted] == [CLICKED]
    assert [row.type for row in await events(db)] == [CLICKED]


# ----- suppression --------------------------------------------------------------------------


async def test_a_hard_bounce_suppresses_the_address_for_all_mail(db: Database) -> None:
    await add_message(db)
    bounce = feedback(BOUNCED, provider="ses", bounce="hard", detail="550 5.1.1 no such user")
    await record_email_events(db, [bounce], everything)
    assert await suppressed(db) == [("hard_bounce", "webhook:ses")]
    [row] = await events(db)
    assert row.properties["bounce"] == "hard" and row.properties["detail"] == "550 5.1.1 no such user"


async def test_a_complaint_suppresses_the_address_for_marketing(db: Database) -> None:
    await add_message(db)
    await record_email_events(db, [feedback(COMPLAINED, provider="postmark")], everything)
    assert await suppressed(db) == [("complaint", "webhook:postmark")]


async def test_a_hard_bounce_for_no_message_of_ours_still_suppresses_the_address(db: Database) -> None:
    stray = feedback(BOUNCED, provider="mailgun", email="Gone@Example.com", message_id=None, esp_message_id="esp-x", bounce="hard")
    result = await record_email_events(db, [stray], everything)
    assert result.accepted == [] and await events(db) == []
    assert await suppressed(db, "gone@example.com") == [("hard_bounce", "webhook:mailgun")]


async def test_a_complaint_for_no_message_of_ours_still_suppresses_the_address(db: Database) -> None:
    stray = feedback(COMPLAINED, provider="resend", email="ann@example.com", message_id=None, esp_message_id=None)
    await record_email_events(db, [stray], everything)
    assert await events(db) == []
    assert await suppressed(db) == [("complaint", "webhook:resend")]


async def test_the_messages_address_is_suppressed_when_the_event_names_none(db: Database) -> None:
    await add_message(db, to_email="ann@example.com")
    await record_email_events(db, [feedback(BOUNCED, email=None, bounce="hard")], everything)
    assert await suppressed(db) == [("hard_bounce", "webhook:sendgrid")]
    [row] = await events(db)
    assert row.properties["email"] == "ann@example.com", "the event says where the message went"


@pytest.mark.parametrize(
    "item",
    [feedback(BOUNCED, bounce="soft", detail="mailbox full"), feedback(BOUNCED), feedback(DELIVERED), feedback(OPENED),
     feedback(CLICKED, url="https://shop.example.com/")],
    ids=["soft-bounce", "bounce-of-unknown-kind", "delivered", "opened", "clicked"],
)
async def test_other_feedback_does_not_suppress_the_address(db: Database, item: EmailEvent) -> None:
    await add_message(db)
    await record_email_events(db, [item], everything)
    assert await suppressed(db) == []
    assert [row.type for row in await events(db)] == [item.type], "stored all the same"


# ----- once per provider event ------------------------------------------------------------


async def test_the_same_webhook_event_twice_is_stored_once_and_adds_one_history_entry(db: Database) -> None:
    await add_message(db)
    first = await record_email_events(db, [feedback(OPENED, event_id="sg-1")], everything)
    again = await record_email_events(db, [feedback(OPENED, event_id="sg-1")], everything)

    assert len(first.accepted) == 1 and again.accepted == [] and again.to_dispatch == []
    assert again.duplicate_ids == [derived_id("esp_", "sendgrid", "sg-1")], "the provider's event, seen before"
    assert len(await events(db)) == 1 and len(await outbox(db)) == 1
    assert [h["status"] for h in await history(db)] == ["sent", OPENED]


async def test_the_same_webhook_event_twice_in_one_batch_is_stored_once(db: Database) -> None:
    await add_message(db)
    result = await record_email_events(db, [feedback(OPENED, event_id="sg-1"), feedback(OPENED, event_id="sg-1")], everything)
    assert len(result.accepted) == 1 and len(result.duplicate_ids) == 1
    assert [h["status"] for h in await history(db)] == ["sent", OPENED]


async def test_a_redelivered_hard_bounce_adds_no_second_suppression(db: Database) -> None:
    await add_message(db)
    bounce = feedback(BOUNCED, bounce="hard")
    await record_email_events(db, [bounce], everything)
    await record_email_events(db, [bounce], everything)
    assert await suppressed(db) == [("hard_bounce", "webhook:sendgrid")]


async def test_different_events_of_one_message_are_each_recorded_and_a_persons_first_open_is_the_event(db: Database) -> None:
    await add_message(db)
    batch = [feedback(DELIVERED, event_id="1"), feedback(OPENED, event_id="2"), feedback(OPENED, event_id="3")]
    result = await record_email_events(db, batch, everything)
    assert [e.type for e in result.accepted] == [DELIVERED, OPENED] and len(await events(db)) == 2
    assert len(await facts(db)) == 3, "the second open is in the timeline, and no second email.opened event"


async def test_the_same_event_id_from_two_providers_is_two_events(db: Database) -> None:
    await add_message(db)
    batch = [feedback(DELIVERED, provider="sendgrid", event_id="42"), feedback(DELIVERED, provider="mailgun", event_id="42")]
    result = await record_email_events(db, batch, everything)
    assert len(result.accepted) == 2 and result.duplicate_ids == []
    assert sorted(row.properties["provider"] for row in await events(db)) == ["mailgun", "sendgrid"]


# ----- the outbox -----------------------------------------------------------------------------


async def test_registry_cares_decides_which_events_get_an_outbox_row(db: Database) -> None:
    await add_message(db)
    asked: list[str] = []

    def cares(event_type: str) -> bool:
        asked.append(event_type)
        return event_type == OPENED

    batch = [feedback(DELIVERED, event_id="d"), feedback(OPENED, event_id="o")]
    result = await record_email_events(db, batch, cares)
    opened = next(e for e in result.accepted if e.type == OPENED)
    assert [e.id for e in result.to_dispatch] == [opened.id]
    assert await outbox(db) == [opened.id]
    assert len(await events(db)) == 2, "an event no journey waits for is stored all the same"
    assert sorted(asked) == [DELIVERED, OPENED]


async def test_no_outbox_row_when_no_journey_cares(db: Database) -> None:
    await add_message(db)
    result = await record_email_events(db, [feedback(CLICKED, url="https://x.example.com/")], lambda _: None)
    assert len(result.accepted) == 1 and result.to_dispatch == []
    assert await outbox(db) == []


# ----- what the event and the message log say ----------------------------------------------


@pytest.mark.parametrize(
    ("item", "extra"),
    [
        (feedback(BOUNCED, bounce="soft", detail="452 mailbox full"), {"bounce": "soft", "detail": "452 mailbox full"}),
        (feedback(CLICKED, url="https://shop.example.com/sale"), {"url": "https://shop.example.com/sale"}),
        (feedback(COMPLAINED, detail="abuse"), {"detail": "abuse"}),
        (feedback(DELIVERED), {}),
    ],
    ids=["bounce", "click", "complaint", "delivery"],
)
async def test_the_events_properties_carry_bounce_url_and_detail_only_when_given(
    db: Database, item: EmailEvent, extra: dict[str, str]
) -> None:
    await add_message(db, journey=None, template="receipt")
    await record_email_events(db, [item], everything)
    [row] = await events(db)
    assert row.properties == {
        "message_id": "msg-1", "template": "receipt", "journey": None, "provider": "sendgrid", "email": "ann@example.com", **extra,
    }


async def test_the_events_address_is_the_one_the_esp_reports(db: Database) -> None:
    await add_message(db, to_email="ann@example.com")
    await record_email_events(db, [feedback(OPENED, email="ann+alias@example.com")], everything)
    [row] = await events(db)
    assert row.properties["email"] == "ann+alias@example.com"


async def test_each_new_event_adds_one_entry_to_the_messages_history(db: Database) -> None:
    await add_message(db)
    batch = [
        feedback(DELIVERED, event_id="1", occurred_at=datetime(2026, 11, 29, 10, 0, 1, 250000, tzinfo=timezone.utc)),
        feedback(OPENED, event_id="2", provider="mailgun", occurred_at=datetime(2026, 11, 29, 10, 5, tzinfo=timezone.utc)),
        feedback(CLICKED, event_id="3", url="https://shop.example.com/", occurred_at=datetime(2026, 11, 29, 10, 6, tzinfo=timezone.utc)),
    ]
    await record_email_events(db, batch, everything)
    later = feedback(BOUNCED, event_id="4", bounce="soft", detail="452 mailbox full", occurred_at=datetime(2026, 11, 30, tzinfo=timezone.utc))
    await record_email_events(db, [later], everything)

    assert await history(db) == [
        SENT,
        {"at": "2026-11-29T10:00:01+00:00", "status": DELIVERED, "reason": None, "via": "sendgrid"},
        {"at": "2026-11-29T10:05:00+00:00", "status": OPENED, "reason": None, "via": "mailgun"},
        {"at": "2026-11-29T10:06:00+00:00", "status": CLICKED, "reason": "https://shop.example.com/", "via": "sendgrid"},
        {"at": "2026-11-30T00:00:00+00:00", "status": BOUNCED, "reason": "soft bounce 452 mailbox full", "via": "sendgrid"},
    ]


async def test_events_of_two_messages_in_one_batch_go_to_each_messages_history(db: Database) -> None:
    await add_message(db, "msg-1", customer="ann")
    await add_message(db, "msg-2", customer="bob", to_email="bob@example.com", esp_message_id="<esp-2@mail>")
    batch = [feedback(OPENED, event_id="a"), feedback(BOUNCED, event_id="b", message_id=None, esp_message_id="esp-2@mail",
                                                     email="bob@example.com", bounce="hard")]
    await record_email_events(db, batch, everything)
    assert [h["status"] for h in await history(db, "msg-1")] == ["sent", OPENED]
    assert [(h["status"], h["reason"]) for h in await history(db, "msg-2")] == [("sent", None), (BOUNCED, "hard bounce")]
    assert {row.customer_id: row.type for row in await events(db)} == {"ann": OPENED, "bob": BOUNCED}
    assert await suppressed(db, "bob@example.com") == [("hard_bounce", "webhook:sendgrid")]
    assert await suppressed(db, "ann@example.com") == []


async def test_two_webhook_requests_for_one_message_at_once_both_reach_its_history(db: Database) -> None:
    await add_message(db, esp_message_id="esp-1")
    real_get = AsyncSession.get
    reads = 0
    both_read = asyncio.Event()

    async def get_then_wait(self: AsyncSession, *args: Any, **kwargs: Any) -> Any:
        # Each request reads the ledger row, then waits (1 s at most, in case the other is
        # held by a row lock) until the other request has read it too: two requests at once.
        nonlocal reads
        row = await real_get(self, *args, **kwargs)
        reads += 1
        if reads >= 2:
            both_read.set()
        try:
            await asyncio.wait_for(both_read.wait(), timeout=1)
        except TimeoutError:
            pass
        return row

    opened = feedback(OPENED, event_id="o", message_id=None, esp_message_id="esp-1")
    clicked = feedback(CLICKED, event_id="c", message_id=None, esp_message_id="esp-1", url="https://shop.example.com/")
    with patch.object(AsyncSession, "get", get_then_wait):
        await asyncio.gather(record_email_events(db, [opened], everything), record_email_events(db, [clicked], everything))

    assert len(await events(db)) == 2, "both events are stored"
    assert sorted(h["status"] for h in await history(db)) == [CLICKED, OPENED, "sent"]


# ----- machines the ESP reports: in the timeline, never counted nor dispatched ------------------
