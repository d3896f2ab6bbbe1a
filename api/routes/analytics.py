"""What journeys achieve: ``GET /v1/journeys`` (every journey with its headline figures)
and ``GET /v1/journeys/{journey}/analytics`` (funnel, steps, A/B splits with significance,
and where customers wait now). journeys/analytics/report.py says how each figure counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.answers import answers
from api.deps import StateDep
from journeys.contracts.events import Moment
from journeys.operations import journey_analytics
from journeys.operations.journey_analytics import JourneyAnalytics, JourneyHeadline

router = APIRouter(tags=["analytics"])

Since = Annotated[Moment | None, Query(alias="from", description="entries and sends from this hour on (rounded down to it)")]
Until = Annotated[Moment | None, Query(alias="to", description="up to this time (rounded up to the next hour)")]


@router.get("/v1/journeys", response_model=list[JourneyHeadline], summary="Every journey with its headline figures")
async def list_journeys(state: StateDep, since: Since = None, until: Until = None) -> list[JourneyHeadline]:
    return await journey_analytics.headlines(state.db, state.registry, since, until)


@router.get(
    "/v1/journeys/{journey}/analytics",
    response_model=JourneyAnalytics,
    summary="A journey's funnel, steps and A/B splits over a time range",
    responses=answers(404),
)
async def journey_analytics_of(journey: str, state: StateDep, since: Since = None, until: Until = None) -> JourneyAnalytics:
    if journey not in state.registry.journeys:
        known = ", ".join(sorted(state.registry.journeys))
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no journey named {journey!r} (known: {known})")
    return await journey_analytics.analytics(
        state.outbox.client, state.db, journey, since, until, state.settings.analytics_min_sample
    )
