"""``/dashboard`` (every journey with its headline figures) and
``/dashboard/journeys/{journey}`` (its funnel, steps, A/B splits and where customers wait
now), over a range of days; journeys/analytics/report.py says how each figure counts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.dashboard import charts, pages
from api.deps import StateDep
from journeys.analytics.report import SplitFigures, StepFigures
from journeys.analytics.significance import control_of
from journeys.operations import journey_analytics

router = APIRouter()

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class TimeRange:
    """The days asked for, both ends included, as the UTC instants the figures take."""

    from_text: str
    to_text: str
    since: datetime | None
    until: datetime | None
    error: str | None = None

    @property
    def query(self) -> str:
        kept = {name: text for name, text in (("from", self.from_text), ("to", self.to_text)) if text}
        return f"?{urlencode(kept)}" if kept and self.error is None else ""


def read_range(request: Request) -> TimeRange:
    """``from`` and ``to`` as dates (what a date input sends); an empty end is open."""
    texts = {name: request.query_params.get(name, "").strip()[:40] for name in ("from", "to")}
    days: dict[str, date] = {}
    errors = []
    for name, text in texts.items():
        if not text:
            continue
        try:
            if not _DATE.fullmatch(text):
                raise ValueError(text)
            day = date.fromisoformat(text)
            if not 1900 <= day.year <= 9998:  # the years the API takes (journeys/contracts/events.py)
                raise ValueError(text)
            days[name] = day
        except ValueError:
            errors.append(f"{name}: {text!r} is not a date (YYYY-MM-DD)")
    since = datetime.combine(days["from"], time(), timezone.utc) if "from" in days else None
    # "to" is a day, included: the figures run up to the midnight after it.
    until = datetime.combine(days["to"] + timedelta(days=1), time(), timezone.utc) if "to" in days else None
    if since is not None and until is not None and since >= until:
        errors.append("from is after to")
    return TimeRange(texts["from"], texts["to"], since, until, "; ".join(errors) or None)


def presets(today: date) -> list[tuple[str, str]]:
    """(label, query) of the ranges one click away."""
    def days(n: int) -> str:
        return "?" + urlencode({"from": (today - timedelta(days=n - 1)).isoformat(), "to": today.isoformat()})

    return [("All time", ""), ("Today", days(1)), ("Last 7 days", days(7)), ("Last 30 days", days(30))]


def _today() -> date:
    return datetime.now(timezone.utc).date()


@router.get("/dashboard", response_class=HTMLResponse)
async def journeys_page(request: Request, state: StateDep) -> Response:
    session = pages.session_of(request, state)
    if session is None:
        return pages.to_login(request)
    span = read_range(request)
    listed = [] if span.error else await journey_analytics.headlines(state.db, state.registry, span.since, span.until)
    return await pages.page(
        state, session, "journeys.html", current="journeys", title="Journeys", status=422 if span.error else 200,
        span=span, presets=presets(_today()), action="/dashboard", journeys=listed,
    )


@router.get("/dashboard/journeys/{journey}", response_class=HTMLResponse)
async def journey_page(journey: str, request: Request, state: StateDep) -> Response:
    session = pages.session_of(request, state)
    if session is None:
        return pages.to_login(request)
    if journey not in state.registry.journeys:
        known = ", ".join(sorted(state.registry.journeys))
        message = f"There is no journey named {journey!r}. The journeys are: {known}."
        return await pages.page(state, session, "message.html", current="journeys", title="No such journey", status=404, message=message)
    span = read_range(request)
    figures = None
    if span.error is None:
        figures = await journey_analytics.analytics(
            state.outbox.client, state.db, journey, span.since, span.until, state.settings.analytics_min_sample
        )
        for split in figures.splits:  # the control first: the row the others are compared with
            control = control_of([v.variant for v in split.variants])
            split.variants.sort(key=lambda v: (v.variant != control, v.variant))
    return await pages.page(
        state, session, "journey.html", current="journeys", title=journey, status=422 if span.error else 200,
        span=span, presets=presets(_today()), action=f"/dashboard/journeys/{journey}", journey=journey,
        triggers=sorted(state.registry.journeys[journey].triggers), figures=figures,
        chart=charts.bar_chart(charts.funnel_bars(figures), f"The funnel of {journey}, step by step") if figures else None,
        steps=charts.ordered_steps(figures.steps) if figures else [],
        min_sample=state.settings.analytics_min_sample,
        # The goals any variant of each split reached: one column each.
        split_goals={s.split: sorted({g for v in s.variants for g in v.converted}) for s in (figures.splits if figures else [])},
        split_steps={s.split: split_steps(s) for s in (figures.splits if figures else [])},
        controls={s.split: control_of([v.variant for v in s.variants]) for s in (figures.splits if figures else [])},
    )


def split_steps(split: SplitFigures) -> list[tuple[str, StepFigures]]:
    """(variant, its figures) for each step, steps in the funnel's order and each step's
    variants side by side: what a subject-line test compares is one step's opens."""
    by_name = {s.step: s for v in split.variants for s in v.steps}
    order = charts.ordered_steps([StepFigures(step=name, sent=sum(s.sent for v in split.variants for s in v.steps if s.step == name)) for name in by_name])
    rows = []
    for step in order:
        for v in split.variants:
            mine = next((s for s in v.steps if s.step == step.step), None)
            rows.append((v.variant, mine or StepFigures(step=step.step)))
    return rows
