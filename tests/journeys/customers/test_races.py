"""First writes of one customer at the same moment: ten PUTs of a new profile, ten Segment
identify calls carrying both ids. Each is accepted and the outcome is as if they came one
after another (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from journeys.contracts.customers import CustomerIn
from journeys.contracts.journey_io import MERGED_EVENT
from journeys.customers.profiles import upsert_customer
from journeys.intake.segment_calls import parse_call
from journeys.intake.segment_ingest import ingest, profile_update
from journeys.storage.database import Database
from journeys.storage.tables import CustomerAliasRow, CustomerRow, EventRow


async def test_ten_simultaneous_puts_of_a_new_customer_create_it_once(db: Database) -> None:
    async def put(n: int) -> bool:
        async with db.session() as session:
            _, created = await upsert_customer(session, db, "new-1", CustomerIn(email=f"ann{n}@example.com"))
            return created

    created = await asyncio.gather(*[put(n) for n in range(10)])
    assert sorted(created) == [False] * 9 + [True], "one created it, nine replaced it"
    async with db.session() as session:
        [row] = (await session.exec(select(CustomerRow))).all()
    assert row.email in {f"ann{n}@example.com" for n in range(10)}


async def test_ten_simultaneous_identify_calls_with_both_ids_merge_once(db: Database) -> None:
    async def identify(n: int) -> None:
        call = parse_call(
            {"type": "identify", "userId": "u1", "anonymousId": "anon-1", "messageId": f"i-{n}", "traits": {"email": "ann@example.com", "n": n}},
            None,
            "body",
        )
        await ingest(db, [(call, profile_update(call, "body"), "body")], None, needs_dispatch=lambda _: True)

    await asyncio.gather(*[identify(n) for n in range(10)])
    async with db.session() as session:
        aliases = (await session.exec(select(CustomerAliasRow))).all()
        customers = (await session.exec(select(CustomerRow))).all()
        events = (await session.exec(select(EventRow))).all()
    assert [(a.alias_id, a.customer_id) for a in aliases] == [("anon-1", "u1")]
    assert [(c.id, c.email) for c in customers] == [("u1", "ann@example.com")]
    assert len([e for e in events if e.type == MERGED_EVENT]) == 1, "the merge is announced once"
    assert len([e for e in events if e.type == "identify"]) == 10
