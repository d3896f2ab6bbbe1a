"""Dead letters: ``GET /v1/dead-letters``, ``POST /v1/dead-letters/{id}/retry`` and ``/discard``
(journeys/operations/dead_letters.py says what each kind is and what a retry does)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError

from api.answers import answers
from api.deps import StateDep
from journeys.contracts.events import Moment
from journeys.operations import dead_letters
from journeys.operations.dead_letters import CannotRetry, DeadLetter, Kind, NotADeadLetter

router = APIRouter(tags=["dead letters"])

LetterId = Annotated[str, Path(min_length=2, max_length=80, pattern=r"^[em][A-Za-z0-9]+$", description="e<n> or m<id>")]


def _gone(letter_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no unresolved dead letter {letter_id!r} (retried or discarded already?)")


@router.get("/v1/dead-letters", response_model=list[DeadLetter], summary="Events and messages that need an operator")
async def list_dead_letters(
    state: StateDep,
    kind: Kind | None = None,
    customer_id: Annotated[str | None, Query(max_length=200)] = None,
    journey: Annotated[str | None, Query(max_length=100)] = None,
    since: Moment | None = None,
    until: Moment | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetter]:
    """Newest last try first. Events Temporal refused, messages that failed after their
    retries or may have reached the ESP (unknown)."""
    return await dead_letters.list_dead_letters(
        state.db, state.registry, kind=kind, customer_id=customer_id, journey=journey, since=since, until=until, limit=limit
    )


@router.post("/v1/dead-letters/{letter_id}/retry", response_model=DeadLetter, summary="Dispatch the event again, or send the message again", responses=answers(404))
async def retry_dead_letter(letter_id: LetterId, state: StateDep) -> DeadLetter:
    try:
        letter, to_dispatch = await dead_letters.retry(state.db, state.registry, letter_id)
    except NotADeadLetter:
        raise _gone(letter_id) from None
    except CannotRetry as exc:
        raise RequestValidationError([{"type": "value_error", "loc": ("path", "letter_id"), "msg": str(exc), "input": None}]) from None
    state.outbox.submit(to_dispatch)
    return letter


@router.post("/v1/dead-letters/{letter_id}/discard", response_model=DeadLetter, summary="Set a dead letter aside for good", responses=answers(404))
async def discard_dead_letter(letter_id: LetterId, state: StateDep) -> DeadLetter:
    try:
        return await dead_letters.discard(state.db, state.registry, letter_id)
    except NotADeadLetter:
        raise _gone(letter_id) from None
