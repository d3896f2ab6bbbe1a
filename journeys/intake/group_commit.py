"""Group commit: the events of requests that arrive together stored in one transaction.

Sixteen clients each posting one event would otherwise cost sixteen transactions, each
with its session, its BEGIN and its COMMIT, one after the other on SQLite's single
writer. Here a request joins a queue; whoever holds the lock stores everything queued
(its own events and those that came while the previous group was being written) in one
transaction, and every request gets its own answer: its events accepted or duplicate,
exactly as if it had been stored alone (the first request to carry an id wins it).

Nothing already accepted is harmed by a bad neighbour: if the database refuses a value,
each request of the group is stored again on its own, so only the request at fault gets
the error; a database that is away fails the whole group at once (each request a 503,
as it would have been alone, without each waiting out its own timeout in turn).
A request is answered only after the transaction holding its events has committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import DataError

from journeys.contracts.events import Event
from journeys.intake.event_store import StoreResult, store_events, store_in
from journeys.storage.database import Database

# At most this many events in one transaction (a group of big batches is split).
MAX_GROUP_EVENTS = 2_000


@dataclass
class _Request:
    events: list[Event]
    answer: asyncio.Future[StoreResult] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit:
    def __init__(self, db: Database, needs_dispatch: Callable[[Event], bool]) -> None:
        self.db = db
        self.needs_dispatch = needs_dispatch
        self._queue: list[_Request] = []
        self._writing = asyncio.Lock()

    async def store(self, events: list[Event]) -> StoreResult:
        """Store ``events`` (with their outbox rows), possibly with other requests' events;
        returns once they are committed, reporting this request's events only."""
        request = _Request(events)
        self._queue.append(request)
        while not request.answer.done():
            # Each write runs as its own task, holding the lock to its end: a request whose
            # client goes away cancels its wait, never the write of its group, and a request
            # left out of a full group leads the next one.
            await asyncio.shield(asyncio.ensure_future(self._lead()))
        return request.answer.result()

    async def _lead(self) -> None:
        async with self._writing:
            if self._queue:
                await self._write(self._take())

    def _take(self) -> list[_Request]:
        group: list[_Request] = []
        size = 0
        while self._queue and (not group or size + len(self._queue[0].events) <= MAX_GROUP_EVENTS):
            request = self._queue.pop(0)
            group.append(request)
            size += len(request.events)
        return group

    async def _write(self, group: list[_Request]) -> None:
        if len(group) == 1:
            await self._alone(group[0])
            return
        try:
            async with self.db.session() as session:
                stored = await store_in(session, self.db, [e for r in group for e in r.events], self.needs_dispatch)
                await session.commit()
        except DataError:  # a value the database refuses: each request again, so only the one at fault fails
            for request in group:
                await self._alone(request)
            return
        except Exception as exc:  # noqa: BLE001 - the database away: every request hears so at once (503)
            for request in group:
                _answer(request, exc)
            return
        for request, result in zip(group, _split(group, stored)):
            _answer(request, result)

    async def _alone(self, request: _Request) -> None:
        try:
            result: StoreResult | Exception = await store_events(self.db, request.events, self.needs_dispatch)
        except Exception as exc:  # noqa: BLE001 - the request's own answer (503, 422)
            result = exc
        _answer(request, result)


def _answer(request: _Request, result: StoreResult | Exception) -> None:
    if request.answer.done():
        return
    if isinstance(result, Exception):
        request.answer.set_exception(result)
    else:
        request.answer.set_result(result)


def _split(group: list[_Request], stored: StoreResult) -> list[StoreResult]:
    """The group's result, request by request: an id stored by the group goes to the first
    request that carried it; any other occurrence is a duplicate, as it would have been."""
    accepted = {e.id: e for e in stored.accepted}
    dispatch = {e.id for e in stored.to_dispatch}
    results = []
    for request in group:
        result = StoreResult()
        for event in request.events:
            mine = accepted.pop(event.id, None)
            if mine is None:
                result.duplicate_ids.append(event.id)
                continue
            result.accepted.append(mine)
            if mine.id in dispatch:
                result.to_dispatch.append(mine)
        results.append(result)
    return results
