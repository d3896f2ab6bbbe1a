"""What a journey achieves, for the API and the dashboard: the figures of the database's
roll-ups (journeys/analytics/report.py) and, from Temporal, where the customers in the
journey wait right now (the ``JourneyStep`` search attribute of its running workflows).

Temporal's visibility cannot group by a custom attribute, so the running workflows are
listed and counted here, up to ``LIVE_LIMIT`` of them (beyond that the breakdown is of
the first ones listed, and says so). While Temporal is away the figures still answer,
without the live breakdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime

from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.service import RPCError

from journeys.analytics import report
from journeys.analytics.report import Funnel, JourneyFigures
from journeys.contracts import search_attributes as sa
from journeys.contracts.journey_spec import JourneyRoutes
from journeys.storage.database import Database

log = logging.getLogger("journeys.analytics")

LIVE_LIMIT = 10_000
LIVE_TIMEOUT_SECONDS = 3.0


class LiveSteps(BaseModel):
    """Where the journey's running workflows are now, by step (Temporal's own view)."""

    available: bool
    running: int = 0
    by_step: dict[str, int] = Field(default_factory=dict)
    complete: bool = True  # False when more than LIVE_LIMIT run and only those were counted
    note: str | None = None


class JourneyAnalytics(JourneyFigures):
    live: LiveSteps


class JourneyHeadline(Funnel):
    journey: str
    triggers: list[str]
    sent: int = 0
    opened: int = 0
    clicked: int = 0


async def analytics(
    client: Client, db: Database, journey: str, since: datetime | None, until: datetime | None, min_sample: int
) -> JourneyAnalytics:
    figures, live = await asyncio.gather(report.figures(db, journey, since, until, min_sample), live_steps(client, journey))
    return JourneyAnalytics(**figures.model_dump(), live=live)


async def headlines(db: Database, routes: JourneyRoutes, since: datetime | None, until: datetime | None) -> list[JourneyHeadline]:
    names = sorted(routes.journeys)
    funnels = await report.headlines(db, names, since, until)
    listed = []
    for name in names:
        funnel = funnels[name]
        headline = JourneyHeadline(journey=name, triggers=sorted(routes.journeys[name].triggers), **funnel.model_dump())
        headline.sent = sum(s.sent for s in funnel.steps)
        headline.opened = sum(s.opened for s in funnel.steps)
        headline.clicked = sum(s.clicked for s in funnel.steps)
        listed.append(headline)
    return listed


async def live_steps(client: Client, journey: str) -> LiveSteps:
    # A journey's name holds no quote (workflows/definition.py checks it): safe to quote.
    query = f'{sa.JOURNEY.name} = "{journey}" AND ExecutionStatus = "Running"'
    counts: Counter[str] = Counter()

    async def count() -> int:
        listed = 0
        async for execution in client.list_workflows(query, page_size=1000, limit=LIVE_LIMIT):
            counts[execution.typed_search_attributes.get(sa.JOURNEY_STEP) or "starting"] += 1
            listed += 1
        return listed

    try:
        listed, total = await asyncio.wait_for(
            asyncio.gather(count(), client.count_workflows(query)), timeout=LIVE_TIMEOUT_SECONDS
        )
    except (RPCError, RuntimeError, asyncio.TimeoutError) as exc:
        log.info("no live step breakdown for %s: %s", journey, exc)
        return LiveSteps(available=False, note="Temporal did not answer; the figures above are the database's")
    complete = total.count <= listed
    note = None if complete else f"{total.count} running; the steps of the first {listed} are shown"
    return LiveSteps(available=True, running=total.count, by_step=dict(counts.most_common()), complete=complete, note=note)
