"""The suppression list: keyed by a hash of the normalised address, one row per reason kept with its first source, lifted reason by reason, and only a hard bounce stops transactional mail."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest
from sqlmodel import select

from journeys.consent.policy import SendPolicy
from journeys.consent.suppressions import STOPS_TRANSACTIONAL, Reason, email_hash, lift, suppress, suppressions_of
from journeys.contracts.customers import Customer
from journeys.storage.database import Database
from journeys.storage.tables import SuppressionRow
from journeys.templating.catalog import TemplateInfo

REASONS: tuple[Reason, ...] = ("hard_bounce", "complaint", "manual", "erased")


async def add(db: Database, email: str, reason: Reason, source: str = "api") -> bool:
    async with db.session() as session:
        added = await suppress(db, session, email, reason, source=source)
        await session.commit()
        return added


async def remove(db: Database, email: str, reason: Reason) -> bool:
    async with db.session() as session:
        lifted = await lift(session, email, reason)
        await session.commit()
        return lifted


async def reasons(db: Database, email: str = "ann@example.com") -> list[str]:
    async with db.session() as session:
        return [row.reason for row in await suppressions_of(session, email)]


async def all_rows(db: Database) -> list[SuppressionRow]:
    async with db.session() as session:
        return list((await session.exec(select(SuppressionRow))).all())


def test_the_hash_is_of_the_trimmed_lower_case_address() -> None:
    expected = hashlib.sha256(b"ann@example.com").hexdigest()
    assert email_hash("ann@example.com") == expected
    assert email_hash("  Ann@EXAMPLE.com\n") == expected
    assert email_hash("ann+news@example.com") != expected, "sub-addresses are addresses of their own"


async def test_an_address_is_suppressed_whatever_its_case_and_whitespace(db: Database) -> None:
    assert await add(db, " Ann@Example.COM ", "complaint") is True
    assert await reasons(db, "ann@example.com") == ["complaint"]
    assert await reasons(db, "ANN@EXAMPLE.COM\t") == ["complaint"]
    assert await reasons(db, "ann@example.org") == []


async def test_the_list_keeps_a_hash_and_not_the_address(db: Database) -> None:
    await add(db, "Ann@Example.com", "manual", source="support")
    [row] = await all_rows(db)
    assert row.email_sha256 == hashlib.sha256(b"ann@example.com").hexdigest()
    assert "ann" not in repr(row.model_dump()).lower()


async def test_the_same_reason_again_is_not_new_and_keeps_its_first_source_and_time(db: Database) -> None:
    assert await add(db, "ann@example.com", "complaint", source="webhook:sendgrid") is True
    [first] = await all_rows(db)
    assert await add(db, "ANN@example.com", "complaint", source="api") is False
    [kept] = await all_rows(db)
    assert (kept.source, kept.created_at) == ("webhook:sendgrid", first.created_at)


async def test_each_reason_is_kept_on_its_own_in_the_order_it_came(db: Database) -> None:
    for reason in ("manual", "hard_bounce", "complaint"):
        assert await add(db, "ann@example.com", reason) is True
    assert await reasons(db) == ["manual", "hard_bounce", "complaint"]


async def test_the_source_of_each_reason_is_kept(db: Database) -> None:
    await add(db, "ann@example.com", "hard_bounce", source="webhook:ses")
    await add(db, "ann@example.com", "erased", source="erasure")
    async with db.session() as session:
        rows = await suppressions_of(session, "ann@example.com")
    assert [(r.reason, r.source) for r in rows] == [("hard_bounce", "webhook:ses"), ("erased", "erasure")]
    assert all(r.created_at.tzinfo is not None for r in rows)


async def test_lifting_one_reason_keeps_the_others(db: Database) -> None:
    for reason in ("complaint", "hard_bounce", "manual"):
        await add(db, "ann@example.com", reason)
    assert await remove(db, " ANN@example.com", "hard_bounce") is True
    assert await reasons(db) == ["complaint", "manual"]


async def test_lifting_a_reason_the_address_does_not_have_changes_nothing(db: Database) -> None:
    await add(db, "ann@example.com", "complaint")
    assert await remove(db, "ann@example.com", "manual") is False
    assert await remove(db, "nobody@example.com", "complaint") is False
    assert await reasons(db) == ["complaint"]


async def test_a_lifted_reason_is_gone_and_can_come_back_as_new(db: Database) -> None:
    await add(db, "ann@example.com", "manual", source="import")
    assert await remove(db, "ann@example.com", "manual") is True
    assert await remove(db, "ann@example.com", "manual") is False, "lifted once"
    assert await reasons(db) == []
    assert await add(db, "ann@example.com", "manual", source="support") is True
    [row] = await all_rows(db)
    assert row.source == "support"


async def test_one_address_does_not_touch_another(db: Database) -> None:
    await add(db, "ann@example.com", "hard_bounce")
    await add(db, "bob@example.com", "complaint")
    await remove(db, "bob@example.com", "complaint")
    assert await reasons(db, "ann@example.com") == ["hard_bounce"]
    assert await reasons(db, "bob@example.com") == []


async def test_nothing_is_kept_until_the_caller_commits(db: Database) -> None:
    async with db.session() as session:
        assert await suppress(db, session, "ann@example.com", "complaint", source="api") is True
        await session.rollback()
    assert await reasons(db) == []
    await add(db, "ann@example.com", "complaint")
    async with db.session() as session:
        assert await lift(session, "ann@example.com", "complaint") is True
        await session.rollback()
    assert await reasons(db) == ["complaint"]


@pytest.mark.parametrize("reason", REASONS)
def test_only_a_hard_bounce_stops_transactional_mail(reason: Reason) -> None:
    assert (reason in STOPS_TRANSACTIONAL) is (reason == "hard_bounce")


@pytest.mark.parametrize("reason", REASONS)
async def test_every_reason_stops_marketing_and_only_a_hard_bounce_stops_a_receipt(db: Database, reason: Reason) -> None:
    await add(db, "Ann@Example.com", reason, source="webhook:ses")
    customer = Customer(id="ann", email="ann@example.com")
    now = datetime(2026, 11, 29, 12, tzinfo=timezone.utc)
    policy = SendPolicy()
    async with db.session() as session:
        marketing = await policy.check(session, customer, TemplateInfo("promo", "marketing", "offers"), now)
        receipt = await policy.check(session, customer, TemplateInfo("receipt", "transactional", None), now)

    assert marketing is not None and marketing.status == "suppressed"
    assert f"{reason.replace('_', ' ')} (webhook:ses, " in marketing.reason
    if reason == "hard_bounce":
        assert receipt is not None and receipt.status == "suppressed"
        assert receipt.reason.startswith("address suppressed for all mail: hard bounce (webhook:ses, ")
    else:
        assert receipt is None, f"a {reason} suppression lets transactional mail through"
        assert marketing.reason.startswith("address suppressed for marketing: ")
