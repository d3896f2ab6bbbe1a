"""Two requests storing the same events in opposite orders at the same moment, each over
several statements: one stores them all, the other hears every id as a duplicate, and
neither fails (on PostgreSQL each waited on rows the other held: a deadlock, a 503)."""

from __future__ import annotations

import asyncio

from journeys.contracts.events import Event
from journeys.intake.event_store import store_events
from journeys.storage.bulk_insert import ROWS_PER_STATEMENT
from journeys.storage.database import Database


async def test_opposite_orders_at_once_store_each_event_once(database_url: str) -> None:
    ids = [f"e{i}-'\"%s-é中😀" for i in range(ROWS_PER_STATEMENT * 4)]
    first, second = Database(database_url), Database(database_url)
    try:
        forward = [Event(id=i, type="t", customer_id="c") for i in ids]
        results = await asyncio.gather(store_events(first, forward), store_events(second, forward[::-1]))
    finally:
        await first.dispose()
        await second.dispose()
    accepted = [{e.id for e in r.accepted} for r in results]
    assert not accepted[0] & accepted[1]
    assert accepted[0] | accepted[1] == set(ids)
    for result, mine in zip(results, accepted):
        assert mine | set(result.duplicate_ids) == set(ids)
