"""FastAPI dependencies (``Annotated`` style): app state and API-key authentication."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sqlmodel.ext.asyncio.session import AsyncSession

from api.state import AppState
from journeys.customers.profiles import get_customer
from journeys.contracts.customers import Customer
from journeys.contracts.events import ID_PATTERN
from journeys.storage.database import Database
from journeys.dispatch.outbox import Outbox
from journeys.intake.group_commit import GroupCommit
from journeys.storage.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="Your Journeys API key")

# Every dependency here is ``async def``: FastAPI runs a plain ``def`` dependency in a
# thread pool, a thread hop per dependency per request (a fifth of a single event's cost).


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.journeys
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_db(state: StateDep) -> Database:
    return state.db


async def get_outbox(state: StateDep) -> Outbox:
    return state.outbox


async def get_settings(state: StateDep) -> Settings:
    return state.settings


async def get_intake(state: StateDep) -> GroupCommit:
    return state.intake


DbDep = Annotated[Database, Depends(get_db)]
OutboxDep = Annotated[Outbox, Depends(get_outbox)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
IntakeDep = Annotated[GroupCommit, Depends(get_intake)]


async def require_api_key(
    state: StateDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing API key: send the header 'Authorization: Bearer <your API key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not secrets.compare_digest(credentials.credentials.encode(), state.api_key.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="invalid API key", headers={"WWW-Authenticate": "Bearer"}
        )


CustomerId = Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN)]


def no_customer(customer_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no customer with id {customer_id!r}")


async def customer_or_404(session: AsyncSession, customer_id: str) -> Customer:
    customer = await get_customer(session, customer_id)
    if customer is None:
        raise no_customer(customer_id)
    return customer
