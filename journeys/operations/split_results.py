"""A/B results: per split and variant, how many entered and how many reached each goal."""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, Field
from sqlmodel import select

from journeys.storage.database import Database
from journeys.storage.tables import ConversionRow, SplitAssignmentRow


class VariantResult(BaseModel):
    entries: int = 0
    conversions: dict[str, int] = Field(default_factory=dict)  # goal -> count


class SplitResults(BaseModel):
    journey: str
    splits: dict[str, dict[str, VariantResult]] = Field(default_factory=dict)


async def split_results(db: Database, journey: str) -> SplitResults:
    async with db.report_session() as session:
        assigned = (await session.exec(select(SplitAssignmentRow).where(SplitAssignmentRow.journey == journey))).all()
        converted = (await session.exec(select(ConversionRow).where(ConversionRow.journey == journey))).all()
    splits: dict[str, dict[str, VariantResult]] = defaultdict(lambda: defaultdict(VariantResult))
    for row in assigned:
        splits[row.split][row.variant].entries += 1
    for conversion in converted:
        for split, variant in conversion.variants.items():
            counts = splits[split][variant].conversions
            counts[conversion.goal] = counts.get(conversion.goal, 0) + 1
    return SplitResults(journey=journey, splits={name: dict(v) for name, v in splits.items()})
