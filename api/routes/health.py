"""GET /healthz: is the API up, and how many events still wait for Temporal."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import OutboxDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness, and the outbox backlog")
async def healthz(outbox: OutboxDep) -> dict[str, object]:
    return {"status": "ok", "events_waiting_for_dispatch": await outbox.pending()}
