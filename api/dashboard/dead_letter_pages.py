"""``/dashboard/dead-letters``: what needs an operator, with Retry and Discard buttons
(journeys/operations/dead_letters.py says what each kind is and what a retry does)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.dashboard import auth, pages
from api.deps import StateDep
from api.state import AppState
from journeys.operations import dead_letters
from journeys.operations.dead_letters import CannotRetry, Kind, NotADeadLetter

router = APIRouter()

LISTED = 200
MAX_ID = 80  # as the JSON API's path takes them (api/routes/dead_letters.py)
KINDS: dict[str, Kind] = {"event": "event", "message": "message"}
_LETTER_ID = re.compile(r"[em][A-Za-z0-9]{1,%d}" % (MAX_ID - 1))  # as api/routes/dead_letters.py takes them
# What the page says after a button, by outcome; only these words, never text from the URL.
NOTICES = {
    "retried-event": "{id} is back in the outbox: it is being handed to Temporal now.",
    "retried-message": "{id} is being sent again as a one-off, through the send policy.",
    "discarded": "{id} is set aside for good: still on record, no longer listed or counted.",
    "gone": "{id} is not a dead letter any more (retried or discarded already?).",
    "cannot": "{id} cannot be sent again as it is: its context no longer passes intake. Discard it instead.",
}


@router.get("/dashboard/dead-letters", response_class=HTMLResponse)
async def dead_letters_page(request: Request, state: StateDep) -> Response:
    session = pages.session_of(request, state)
    if session is None:
        return pages.to_login(request)
    kind = KINDS.get(request.query_params.get("kind", ""))
    letters = await dead_letters.list_dead_letters(state.db, state.registry, kind=kind, limit=LISTED)
    done, letter_id = request.query_params.get("done", ""), request.query_params.get("id", "")
    # The id is the one text from the URL the notice repeats: only if it has a dead letter's shape.
    notice = NOTICES[done].format(id=letter_id) if done in NOTICES and _LETTER_ID.fullmatch(letter_id) else None
    return await pages.page(
        state, session, "dead_letters.html", current="dead-letters", title="Dead letters",
        letters=letters, kind=kind, notice=notice, problem=done in ("gone", "cannot"), listed=LISTED,
    )


@router.post("/dashboard/dead-letters/{letter_id}/retry", response_class=HTMLResponse)
async def retry(letter_id: str, request: Request, state: StateDep) -> Response:
    return await _act(request, state, letter_id, "retry")


@router.post("/dashboard/dead-letters/{letter_id}/discard", response_class=HTMLResponse)
async def discard(letter_id: str, request: Request, state: StateDep) -> Response:
    return await _act(request, state, letter_id, "discard")


async def _act(request: Request, state: AppState, letter_id: str, action: str) -> Response:
    session = pages.session_of(request, state)
    if session is None:
        return pages.to_login(request)
    if not auth.csrf_ok(session, await pages.read_form(request)):
        return await pages.forbidden(state, session)
    outcome = "gone"
    try:
        if not plausible(letter_id):
            raise NotADeadLetter(letter_id)
        if action == "retry":
            letter, to_dispatch = await dead_letters.retry(state.db, state.registry, letter_id)
            state.outbox.submit(to_dispatch)  # as the JSON API does: dispatched now, the relay covers a crash
            outcome = f"retried-{letter.kind}"
        else:
            await dead_letters.discard(state.db, state.registry, letter_id)
            outcome = "discarded"
    except NotADeadLetter:
        pass
    except CannotRetry:
        outcome = "cannot"
    # Post/redirect/get: a reload shows the list again instead of sending the form twice.
    return pages.redirect("/dashboard/dead-letters?" + urlencode({"done": outcome, "id": letter_id[:MAX_ID]}))


def plausible(letter_id: str) -> bool:
    """The shape of a dead letter's id, and an event's row id within a database integer
    (a longer one would be an overflow error, not "no such dead letter")."""
    if not _LETTER_ID.fullmatch(letter_id):
        return False
    return not (letter_id[0] == "e" and letter_id[1:].isdigit() and int(letter_id[1:]) >= 2**63)
