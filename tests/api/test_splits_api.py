"""GET /v1/journeys/{journey}/splits: what an A/B test's owner reads."""

import httpx
from fastapi import FastAPI

from core.tables import ConversionRow, SplitAssignmentRow, utcnow


async def test_split_results_count_entries_and_conversions_per_variant(api: httpx.AsyncClient, api_app: FastAPI) -> None:
    now = utcnow()
    async with api_app.state.journeys.db.session() as session:
        for i, variant in enumerate(["a", "a", "a", "b", "b"]):
            session.add(SplitAssignmentRow(journey="welcome", customer_id=f"c{i}", entry_id=f"e{i}", split="subject", variant=variant, assigned_at=now))
        for i in (0, 3, 4):
            session.add(ConversionRow(journey="welcome", customer_id=f"c{i}", entry_id=f"e{i}", goal="user.activated",
                                      event_id=f"x{i}", variants={"subject": "a" if i == 0 else "b"}, converted_at=now))
        await session.commit()
    response = await api.get("/v1/journeys/welcome/splits")
    assert response.status_code == 200
    assert response.json() == {
        "journey": "welcome",
        "splits": {
            "subject": {
                "a": {"entries": 3, "conversions": {"user.activated": 1}},
                "b": {"entries": 2, "conversions": {"user.activated": 2}},
            }
        },
    }
    assert (await api.get("/v1/journeys/nope/splits")).status_code == 404
