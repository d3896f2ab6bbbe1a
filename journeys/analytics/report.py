"""A journey's figures over a time range, read from the hourly roll-ups alone.

Cohorts: the journey's figures (entered, completed, exited, converted) are those of the
entries made in the range, whenever they ended or converted; a step's (sent, opened,
...) are those of the messages of the range, whenever they were opened. Every rate is
per entry (journey) or per message sent (step). Opened, clicked and the rest count each
message once, and only what a person did (not a link scanner, not an image proxy).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlmodel import col

from journeys.analytics.message_facts import FIRST, SENT
from journeys.analytics.rollup import JOURNEY_LEVEL, hour_of
from journeys.analytics.runs import CANCELLED, COMPLETED, ENTERED
from journeys.analytics.significance import Significance, compare, control_of
from journeys.storage.analytics_tables import JourneyStatRow
from journeys.storage.database import Database

EVENT_METRICS = [metric for _, metric in FIRST.values()]  # delivered, opened, clicked, ...


class StepFigures(BaseModel):
    step: str
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0
    # Why the step sent nothing, by decision: suppressed, unsubscribed, capped, skipped, failed, ...
    not_sent: dict[str, int] = Field(default_factory=dict)
    rates: dict[str, float | None] = Field(default_factory=dict)  # each figure above per message sent


class Funnel(BaseModel):
    entered: int = 0
    completed: int = 0
    cancelled: int = 0
    exited: dict[str, int] = Field(default_factory=dict)  # by the exit event
    converted: dict[str, int] = Field(default_factory=dict)  # by goal
    conversion_rate: dict[str, float | None] = Field(default_factory=dict)
    active: int = 0  # entered and not ended (yet)
    steps: list[StepFigures] = Field(default_factory=list)


class VariantFigures(Funnel):
    variant: str


class SplitFigures(BaseModel):
    split: str
    variants: list[VariantFigures]
    significance: list[Significance]  # each variant against the control, per goal


class JourneyFigures(Funnel):
    journey: str
    since: datetime | None = None  # the whole hours counted: [since, until)
    until: datetime | None = None
    splits: list[SplitFigures] = Field(default_factory=list)


async def figures(db: Database, journey: str, since: datetime | None, until: datetime | None, min_sample: int) -> JourneyFigures:
    start = hour_of(since) if since is not None else None
    end = _ceil_hour(until) if until is not None else None
    counts = await _counts(db, [journey], start, end)
    by_variant: dict[tuple[str, str], dict[tuple[str, str], int]] = defaultdict(dict)
    for (_, step, split, variant, metric), n in counts.items():
        by_variant[(split, variant)][(step, metric)] = n
    overall = _funnel(by_variant.get(("", ""), {}))
    report = JourneyFigures(journey=journey, since=start, until=end, **overall.model_dump())
    splits: dict[str, list[VariantFigures]] = defaultdict(list)
    for (split, variant), metrics in sorted(by_variant.items()):
        if split:
            splits[split].append(VariantFigures(variant=variant, **_funnel(metrics).model_dump()))
    for split, variants in splits.items():
        report.splits.append(SplitFigures(split=split, variants=variants, significance=_significance(variants, min_sample)))
    return report


async def headlines(db: Database, journeys: list[str], since: datetime | None, until: datetime | None) -> dict[str, Funnel]:
    """Every journey's overall figures, in one query."""
    counts = await _counts(db, journeys, hour_of(since) if since else None, _ceil_hour(until) if until else None, overall_only=True)
    per_journey: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for (journey, step, _, _, metric), n in counts.items():
        per_journey[journey][(step, metric)] = n
    return {journey: _funnel(per_journey.get(journey, {})) for journey in journeys}


async def _counts(
    db: Database, journeys: list[str], start: datetime | None, end: datetime | None, *, overall_only: bool = False
) -> dict[tuple[str, str, str, str, str], int]:
    keys = (col(JourneyStatRow.journey), col(JourneyStatRow.step), col(JourneyStatRow.split), col(JourneyStatRow.variant), col(JourneyStatRow.metric))
    # Grouped in the order of ix_journey_stats_report, which holds every column read.
    grouping = (col(JourneyStatRow.journey), col(JourneyStatRow.split), col(JourneyStatRow.step), col(JourneyStatRow.variant), col(JourneyStatRow.metric))
    statement = select(*keys, func.sum(JourneyStatRow.count)).where(col(JourneyStatRow.journey).in_(journeys))
    if start is not None:
        statement = statement.where(col(JourneyStatRow.hour) >= start)
    if end is not None:
        statement = statement.where(col(JourneyStatRow.hour) < end)
    if overall_only:
        statement = statement.where(col(JourneyStatRow.split) == "")
    statement = statement.group_by(*grouping)
    async with db.report_session() as session:
        rows = (await session.exec(statement)).all()  # type: ignore[call-overload]
    return {(j, step, split, variant, metric): int(n or 0) for j, step, split, variant, metric, n in rows}


def _funnel(metrics: dict[tuple[str, str], int]) -> Funnel:
    funnel = Funnel()
    steps: dict[str, StepFigures] = {}
    for (step, metric), n in metrics.items():
        if step == JOURNEY_LEVEL:
            if metric == ENTERED:
                funnel.entered = n
            elif metric == COMPLETED:
                funnel.completed = n
            elif metric == CANCELLED:
                funnel.cancelled = n
            elif metric.startswith("exited:"):
                funnel.exited[metric.removeprefix("exited:")] = n
            elif metric.startswith("converted:"):
                funnel.converted[metric.removeprefix("converted:")] = n
            continue
        figures = steps.setdefault(step, StepFigures(step=step))
        if metric == SENT or metric in EVENT_METRICS:
            setattr(figures, metric, n)
        elif metric.startswith("decision:"):
            figures.not_sent[metric.removeprefix("decision:")] = n
    funnel.active = max(0, funnel.entered - funnel.completed - funnel.cancelled - sum(funnel.exited.values()))
    funnel.conversion_rate = {goal: _rate(n, funnel.entered) for goal, n in funnel.converted.items()}
    for figures in steps.values():
        figures.rates = {metric: _rate(getattr(figures, metric), figures.sent) for metric in EVENT_METRICS}
    funnel.steps = sorted(steps.values(), key=lambda s: s.step)
    return funnel


def _significance(variants: list[VariantFigures], min_sample: int) -> list[Significance]:
    if len(variants) < 2:
        return []
    control_name = control_of([v.variant for v in variants])
    control = next(v for v in variants if v.variant == control_name)
    goals = sorted({goal for v in variants for goal in v.converted})
    return [
        compare(goal, control.variant, control.entered, control.converted.get(goal, 0), other.variant, other.entered, other.converted.get(goal, 0), min_sample)
        for goal in goals
        for other in variants
        if other is not control
    ]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _ceil_hour(moment: datetime) -> datetime:
    floor = hour_of(moment)
    return floor if floor == moment else floor + timedelta(hours=1)
