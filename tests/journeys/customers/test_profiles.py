"""Customer profiles in the database (SQLite and PostgreSQL)."""

import pytest
from pydantic import ValidationError

from journeys.customers.profiles import get_customer, upsert_customer
from journeys.contracts.customers import CustomerIn
from journeys.storage.database import Database


async def test_upsert_creates_then_replaces(db: Database) -> None:
    async with db.session() as session:
        created, was_new = await upsert_customer(
            session, db, "c1", CustomerIn(email="ann@example.com", timezone="Europe/Berlin", attributes={"vip": True, "n": [1, 2]})
        )
        assert was_new and created.attributes == {"vip": True, "n": [1, 2]}
        _, was_new = await upsert_customer(session, db, "c1", CustomerIn(email="ann@new.example.com", locale="de-DE"))
        assert not was_new
    async with db.session() as session:
        customer = await get_customer(session, "c1")
    assert customer is not None
    assert (customer.email, customer.timezone, customer.locale, customer.attributes) == (
        "ann@new.example.com",
        "UTC",
        "de-DE",
        {},
    )


async def test_unknown_customer_is_none(db: Database) -> None:
    async with db.session() as session:
        assert await get_customer(session, "nobody") is None


def test_bad_email_and_time_zone_are_refused() -> None:
    with pytest.raises(ValidationError, match="email"):
        CustomerIn(email="not-an-address")
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        CustomerIn(timezone="Mars/Olympus")
