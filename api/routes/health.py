"""GET /healthz: is the API up, how many events still wait for Temporal, and how many dead
letters wait for an operator."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import OutboxDep
from journeys.operations.dead_letters import count_dead_letters

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness, the outbox backlog and the dead letters")
async def healthz(outbox: OutboxDep) -> dict[str, object]:
    return {
        "status": "ok",
        "events_waiting_for_dispatch": await outbox.pending(),
        "dead_letters": await count_dead_letters(outbox.db),
    }
