"""Per-ESP send rates, held across every worker through the database.

``JOURNEYS_<ESP>_RATE_LIMIT`` (messages per second, e.g. ``JOURNEYS_SENDGRID_RATE_LIMIT=50``)
spaces sends toward that ESP: each send takes the next free slot with one atomic UPDATE of
the ESP's row (``esp_rate_slots``), then waits for it. Workers share the row, so the rate
holds however many run. With failover, each ESP keeps its own rate. (The task-queue limit,
``JOURNEYS_SEND_RATE_LIMIT``, caps all sends together; this one is per ESP.)

A slot further away than ``max_wait`` is neither taken nor waited for in the activity:
the send is retried about when the queue reaches it (TransientSendError with retry_after).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from sqlalchemy import text

from journeys.providers.base import TransientSendError
from journeys.storage.database import Database
from journeys.storage.tables import EspRateRow

# Takes the next slot only if it is within reach: a send that will not wait for its slot
# must not use one up, or under a backlog every retry would push the queue further away.
_TAKE_SLOT = text(
    "UPDATE esp_rate_slots SET next_at = (CASE WHEN next_at > :now THEN next_at ELSE :now END) + :gap "
    "WHERE esp = :esp AND next_at <= :latest RETURNING next_at"
)
_NEXT_SLOT = text("SELECT next_at FROM esp_rate_slots WHERE esp = :esp")


class EspRateLimiter:
    def __init__(
        self,
        db: Database,
        limits: Mapping[str, float],
        *,
        max_wait: float = 20.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.gaps = {esp: 1.0 / rate for esp, rate in limits.items()}
        self.max_wait = max_wait
        self.clock = clock
        self._rows_ready: set[str] = set()

    async def wait_turn(self, esp: str) -> None:
        """Return when this send toward ``esp`` may go (at once if it has no limit)."""
        gap = self.gaps.get(esp)
        if gap is None:
            return
        async with self.db.session() as session:
            if esp not in self._rows_ready:
                await session.exec(  # type: ignore[call-overload]
                    self.db.insert(EspRateRow).values(esp=esp, next_at=0.0).on_conflict_do_nothing(index_elements=["esp"])
                )
                self._rows_ready.add(esp)
            now = self.clock()
            params = {"now": now, "gap": gap, "esp": esp, "latest": now + self.max_wait}
            taken = (await session.exec(_TAKE_SLOT, params=params)).scalar_one_or_none()  # type: ignore[call-overload]
            if taken is None:
                next_at = float((await session.exec(_NEXT_SLOT, params={"esp": esp})).scalar_one())  # type: ignore[call-overload]
                await session.commit()
                wait = next_at - now
                raise TransientSendError(f"{esp} rate limit: next free slot in {wait:.0f}s", retry_after=wait)
            await session.commit()
        wait = float(taken) - gap - self.clock()  # after the commit: its own time is not the slot's
        if wait > 0:
            await asyncio.sleep(wait)
