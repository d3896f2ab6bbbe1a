"""GET /metrics: the API process's metrics for Prometheus, in its text format. Public, as
/healthz is: counts and durations by route, source and status, never an id.

The backlog gauges (outbox depth, dispatch lag, dead letters) are read from the database
at each scrape rather than kept fresh by a background task: a scrape then always sees
the present (a task every few seconds would report up to that old a backlog, and query
the database all day whether anyone scrapes or not), and the three queries are the ones
/healthz runs, on indexed columns. Should the database not answer in time, those gauges
are left out of that scrape (Prometheus sees them absent, which an alert can catch) and
the rest is served: the metrics most wanted are the ones of a bad moment.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import DbDep
from journeys.operations.backlog import read_backlog
from journeys.telemetry import metrics

log = logging.getLogger("journeys.api.metrics")
router = APIRouter(tags=["health"])

# Prometheus's default scrape timeout is 10 s: answer well within it.
BACKLOG_TIMEOUT = 3.0


@router.get(
    "/metrics",
    summary="Prometheus metrics of this API process (text exposition format)",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def prometheus_metrics(db: DbDep) -> PlainTextResponse:
    try:
        backlog = await asyncio.wait_for(read_backlog(db), BACKLOG_TIMEOUT)
        extra = metrics.backlog_families(backlog.outbox_depth, backlog.lag_seconds, backlog.dead_letters)
    except Exception as exc:  # noqa: BLE001 - the database away: serve what this process knows
        log.warning("metrics: backlog gauges left out, the database did not answer: %s", exc)
        extra = []
    return PlainTextResponse(metrics.exposition(extra), media_type=metrics.CONTENT_TYPE)
