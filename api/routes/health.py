"""GET /healthz: is the API up, how many events still wait for Temporal, and how many dead
letters wait for an operator."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from api.answers import answers
from api.deps import OutboxDep
from journeys.operations.dead_letters import count_dead_letters

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"]
    events_waiting_for_dispatch: int
    dead_letters: int


@router.get("/healthz", summary="Liveness, the outbox backlog and the dead letters", response_model=Health, responses=answers(503))
async def healthz(outbox: OutboxDep) -> Health:
    return Health(status="ok", events_waiting_for_dispatch=await outbox.pending(), dead_letters=await count_dead_letters(outbox.db))
