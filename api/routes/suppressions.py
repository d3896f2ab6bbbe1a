"""The suppression list by API: ``POST /v1/suppressions``, ``GET``/``DELETE /v1/suppressions/{email}``.

Addresses are kept only as SHA-256 hashes; look one up by the address itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from api.deps import StateDep
from journeys.consent.suppressions import Reason, email_hash, lift, suppress, suppressions_of

router = APIRouter(tags=["consent"])

Email = Annotated[str, Path(min_length=3, max_length=320, description="The email address")]


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    reason: Reason = Field(default="manual", description="hard_bounce stops all mail; the others stop marketing.")


class SuppressionReason(BaseModel):
    reason: str
    source: str
    created_at: datetime


class SuppressionOut(BaseModel):
    email_sha256: str
    suppressed: bool
    marketing_allowed: bool
    transactional_allowed: bool
    reasons: list[SuppressionReason]


async def _describe(state: StateDep, email: str) -> SuppressionOut:
    async with state.db.session() as session:
        rows = await suppressions_of(session, email)
    reasons = [SuppressionReason(reason=r.reason, source=r.source, created_at=r.created_at) for r in rows]
    return SuppressionOut(
        email_sha256=email_hash(email),
        suppressed=bool(rows),
        marketing_allowed=not rows,
        transactional_allowed=not any(r.reason == "hard_bounce" for r in rows),
        reasons=reasons,
    )


@router.post(
    "/v1/suppressions",
    response_model=SuppressionOut,
    summary="Suppress an address",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": SuppressionOut, "description": "suppressed for that reason already"}},
)
async def add_suppression(body: SuppressionIn, state: StateDep, response: Response) -> SuppressionOut:
    """From the next send on: no marketing (any reason), no mail at all (``hard_bounce``)."""
    async with state.db.session() as session:
        added = await suppress(state.db, session, body.email, body.reason, source="api")
        await session.commit()
    if not added:
        response.status_code = status.HTTP_200_OK
    return await _describe(state, body.email)


@router.get("/v1/suppressions/{email}", response_model=SuppressionOut, summary="Is this address suppressed, and why?")
async def read_suppression(email: Email, state: StateDep) -> SuppressionOut:
    return await _describe(state, email)


@router.delete("/v1/suppressions/{email}", response_model=SuppressionOut, summary="Lift one reason for an address")
async def lift_suppression(
    email: Email, state: StateDep, reason: Annotated[Reason, Query(description="The reason to lift; the others stay.")]
) -> SuppressionOut:
    async with state.db.session() as session:
        await lift(session, email, reason)
        await session.commit()
    return await _describe(state, email)
