"""FastAPI dependencies (``Annotated`` style): app state and API-key authentication."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.state import AppState
from core.database import Database
from core.outbox import Outbox
from core.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="Your Journeys API key")


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.journeys
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_db(state: StateDep) -> Database:
    return state.db


def get_outbox(state: StateDep) -> Outbox:
    return state.outbox


def get_settings(state: StateDep) -> Settings:
    return state.settings


DbDep = Annotated[Database, Depends(get_db)]
OutboxDep = Annotated[Outbox, Depends(get_outbox)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def require_api_key(
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
