"""Many rows in one INSERT statement, their values converted for the driver once per value.

SQLAlchemy's executemany converts every value of every row through its column type, one
row dict at a time: for a batch of 500 events that was a quarter of the API's time, more
than SQLite took to store the rows. Here the statement is written once per table, column
list and row count, the column types' own converters are taken from SQLAlchemy (so a value
is stored exactly as the ORM would store it, and read back the same), and a value shared
by many rows (the batch's receipt time) is converted once.

SQLite and PostgreSQL share the syntax used (multi-row VALUES, ON CONFLICT DO NOTHING,
RETURNING); only the driver's placeholder differs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlmodel.ext.asyncio.session import AsyncSession

# Rows per statement: 500 rows of a dozen columns stay well within SQLite's 32,766 and
# PostgreSQL's 65,535 parameters per statement.
ROWS_PER_STATEMENT = 500

_Converter = Callable[[Any], Any] | None


async def insert_rows(
    session: AsyncSession,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    skip_conflicts_on: str | None = None,
    returning: str | None = None,
) -> list[Any]:
    """INSERT ``rows`` (tuples in the order of ``columns``) in the session's transaction.

    ``skip_conflicts_on``: a unique column; a row whose value is taken is left out, not an
    error. ``returning``: a column whose values, for the rows stored, are returned."""
    if not rows:
        return []
    connection = await session.connection()
    dialect = connection.dialect
    converters = _converters(table, tuple(columns), dialect)
    returned: list[Any] = []
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        sql = _statement(table.name, tuple(columns), len(chunk), skip_conflicts_on, returning, dialect)
        result = await connection.exec_driver_sql(sql, tuple(_flat(chunk, converters)))
        if returning is not None:
            returned.extend(result.scalars().all())
    return returned


def _flat(rows: Sequence[Sequence[Any]], converters: tuple[_Converter, ...]) -> list[Any]:
    """Every row's values in order, each converted for the driver. Column by column: a
    column without a converter is taken as it is, and in one with a converter an object
    shared by many rows (the batch's receipt time, one empty ``properties``) is converted
    once (by ``id``: the rows keep every value alive for the whole call; per column, since
    one object in two columns may convert differently, ``False`` as a boolean and as JSON).
    None goes through the converter too: a JSON column stores it as ``null``."""
    columns = [_converted(values, convert) for values, convert in zip(zip(*rows), converters)]
    return [value for row in zip(*columns) for value in row]


def _converted(values: tuple[Any, ...], convert: _Converter) -> Sequence[Any]:
    if convert is None:
        return values
    by_id = {id(value): value for value in values}
    done = {key: convert(value) for key, value in by_id.items()}
    return [done[id(value)] for value in values]


_CONVERTER_CACHE: dict[tuple[int, tuple[str, ...], str], tuple[_Converter, ...]] = {}


def _converters(table: Table, columns: tuple[str, ...], dialect: Dialect) -> tuple[_Converter, ...]:
    key = (id(table), columns, dialect.name)
    found = _CONVERTER_CACHE.get(key)
    if found is None:
        found = _CONVERTER_CACHE[key] = tuple(table.c[name].type._cached_bind_processor(dialect) for name in columns)
    return found


@functools.lru_cache(maxsize=256)
def _statement(
    table: str, columns: tuple[str, ...], count: int, conflict: str | None, returning: str | None, dialect: Dialect
) -> str:
    quote = dialect.identifier_preparer.quote
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
    if mark is None:
        raise NotImplementedError(f"bulk insert: the {dialect.paramstyle!r} parameter style is not supported")
    one = "(" + ", ".join([mark] * len(columns)) + ")"
    sql = f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) VALUES " + ", ".join([one] * count)
    if conflict is not None:
        sql += f" ON CONFLICT ({quote(conflict)}) DO NOTHING"
    if returning is not None:
        sql += f" RETURNING {quote(returning)}"
    return sql
