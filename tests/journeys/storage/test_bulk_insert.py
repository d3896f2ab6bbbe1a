"""Rows written by journeys/storage/bulk_insert.py are the rows the ORM would have written:
the same stored text (so comparisons and ordering in SQL agree), the same values read back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import JSON, Boolean, Column, MetaData, String, Table, insert, text
from sqlmodel import select

from journeys.storage.bulk_insert import ROWS_PER_STATEMENT, insert_rows
from journeys.storage.database import Database
from journeys.storage.tables import EventRow

_events = EventRow.__table__  # type: ignore[attr-defined]
COLUMNS = ("id", "type", "customer_id", "properties", "timestamp", "received_at")


async def test_rows_are_stored_as_the_orm_stores_them(db: Database) -> None:
    at = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone(timedelta(hours=2)))
    props = {"plan": "pro", "ünï": ["ß", 1.5, None, {"deep": True}]}
    async with db.session() as session:
        session.add(EventRow(id="by-orm", type="t", customer_id="c", properties=props, timestamp=at, received_at=at))
        await session.commit()
        await insert_rows(session, _events, COLUMNS, [("by-bulk", "t", "c", props, at, at)])
        await session.commit()
        raw = (await session.exec(text("SELECT id, properties, timestamp, received_at FROM events ORDER BY id"))).all()  # type: ignore[call-overload]
        assert [tuple(r[1:]) for r in raw if r[0] == "by-bulk"] == [tuple(r[1:]) for r in raw if r[0] == "by-orm"]
        read = {r.id: r for r in (await session.exec(select(EventRow))).all()}
    assert read["by-bulk"].timestamp == at and read["by-bulk"].timestamp.tzinfo is not None
    assert read["by-bulk"].properties == props


async def test_taken_ids_are_skipped_and_only_new_ones_returned_across_statements(db: Database) -> None:
    now = datetime.now(timezone.utc)
    count = ROWS_PER_STATEMENT * 2 + 7
    async with db.session() as session:
        await insert_rows(session, _events, COLUMNS, [(f"e{i}", "t", "c", {}, now, now) for i in range(0, count, 3)])
        await session.commit()
        new = await insert_rows(
            session, _events, COLUMNS, [(f"e{i}", "t", "c", {"n": i}, now, now) for i in range(count)],
            skip_conflicts_on="id", returning="id",
        )
        await session.commit()
        stored = (await session.exec(select(EventRow))).all()
    assert sorted(new) == sorted(f"e{i}" for i in range(count) if i % 3)
    assert len(stored) == count
    assert all(r.properties == ({} if int(r.id[1:]) % 3 == 0 else {"n": int(r.id[1:])}) for r in stored)


async def test_nothing_to_insert_is_no_statement(db: Database) -> None:
    async with db.session() as session:
        assert await insert_rows(session, _events, COLUMNS, [], returning="id") == []


async def test_one_object_in_two_columns_and_none_are_converted_per_column(db: Database) -> None:
    probe = Table("bulk_probe", MetaData(), Column("id", String(20), primary_key=True), Column("flag", Boolean), Column("doc", JSON))
    async with db.engine.begin() as connection:
        await connection.run_sync(probe.metadata.create_all)
    try:
        async with db.session() as session:
            await session.exec(insert(probe).values(id="core", flag=False, doc=False))  # type: ignore[call-overload]
            await session.exec(insert(probe).values(id="core-none", flag=None, doc=None))  # type: ignore[call-overload]
            await insert_rows(session, probe, ("id", "flag", "doc"), [("bulk", False, False), ("bulk-none", None, None)])
            await session.commit()
            raw = dict(
                (r[0], (r[1], r[2]))
                for r in (await session.exec(text("SELECT id, flag, CAST(doc AS TEXT) FROM bulk_probe"))).all()  # type: ignore[call-overload]
            )
        assert raw["bulk"] == raw["core"]  # the JSON column holds false, not the boolean's 0
        assert raw["bulk-none"] == raw["core-none"]  # and JSON null, as Core writes None
    finally:
        async with db.engine.begin() as connection:
            await connection.run_sync(probe.metadata.drop_all)
