"""``/dashboard/login`` (the form, and the key checked) and ``/dashboard/logout``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.dashboard import auth, pages
from api.deps import StateDep

router = APIRouter()

# A 401 must name a challenge (RFC 9110); no browser prompts for this one, the page is the form.
CHALLENGE = {"WWW-Authenticate": 'Form realm="Journeys dashboard"'}


@router.get("/dashboard/login", response_class=HTMLResponse)
async def login_form(request: Request, state: StateDep) -> Response:
    target = auth.safe_next(request.query_params.get("next"))
    if pages.session_of(request, state) is not None:
        return pages.redirect(target)
    return pages.render("login.html", title="Log in", next=target, error=None, session=None)


@router.post("/dashboard/login", response_class=HTMLResponse)
async def log_in(request: Request, state: StateDep) -> Response:
    form = await pages.read_form(request)
    target = auth.safe_next(form.get("next"))
    if not auth.key_matches(state.api_key, form.get("key", "")):
        error = "That is not the API key."
        return pages.render("login.html", 401, CHALLENGE, title="Log in", next=target, error=error, session=None)
    answer = pages.redirect(target)
    auth.set_cookie(answer, auth.new_cookie(state.api_key), secure=pages.secure_cookies(state))
    return answer


@router.post("/dashboard/logout", response_class=HTMLResponse)
async def log_out(request: Request, state: StateDep) -> Response:
    session = pages.session_of(request, state)
    if session is None:
        return pages.to_login(request)
    if not auth.csrf_ok(session, await pages.read_form(request)):
        return await pages.forbidden(state, session)
    answer = pages.redirect("/dashboard/login")
    auth.clear_cookie(answer, secure=pages.secure_cookies(state))
    return answer
