"""What every dashboard page shares: the templates, the number and time formats, the
headers, the session check and the form reader."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from api.dashboard import auth
from api.state import AppState
from journeys.operations.dead_letters import count_dead_letters

FORM_LIMIT = 16_384  # a dashboard form is a token and a few fields
HEADERS = {
    # Pages hold customer data: never cached, never framed (clickjacking the Retry button),
    # and no script runs at all: what escaping might miss cannot execute.
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def _number(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}%"


def _lift(lift: float | None) -> str:
    return "–" if lift is None else f"{lift * 100:+.1f}%"


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "–"
    if moment.tzinfo is None:  # the database's naive times are UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def customer_url(customer_id: str, **filters: str) -> str:
    """A customer's timeline: the id goes in the query, so any id (quotes, ``?``, ``#``,
    ``%``) is one value, and no path normalisation can touch it."""
    return "/dashboard/customers?" + urlencode({"id": customer_id, **filters})


# Autoescape on for every template: a customer id or an event property is text, always.
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=StrictUndefined,  # a misspelt name fails the test that renders it, not silently
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(n=_number, pct=_percent, lift=_lift, when=_when)
TEMPLATES.globals.update(customer_url=customer_url, csrf_field=auth.CSRF_FIELD)


def secure_cookies(state: AppState) -> bool:
    return state.settings.resolved_public_url.startswith("https://")


def session_of(request: Request, state: AppState) -> auth.Session | None:
    return auth.read_cookie(state.api_key, request.cookies.get(auth.COOKIE))


def to_login(request: Request) -> RedirectResponse:
    """303 to the login page; a page asked for by GET is where the login goes on to."""
    target = "/dashboard/login"
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method == "GET" and wanted != auth.PATH:
        target += "?" + urlencode({"next": wanted})
    return redirect(target)


def redirect(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


async def read_form(request: Request) -> dict[str, str]:
    """The first value of each field of a urlencoded form; {} for anything else.

    These routes are not in the OpenAPI document, so api/guard.py caps their bodies at its
    default (1 MB) before they run; a form is far smaller, and more is refused unparsed."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > FORM_LIMIT:
        raise _too_large()
    raw = await request.body()
    if len(raw) > FORM_LIMIT:
        raise _too_large()
    try:
        fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    except ValueError:
        return {}
    return {name: values[0] for name, values in fields.items()}


def _too_large() -> HTTPException:
    return HTTPException(413, detail=f"form over {FORM_LIMIT // 1024} KB")


def render(name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    body = TEMPLATES.get_template(name).render(**context)
    return HTMLResponse(body, status_code=status, headers={**HEADERS, **(headers or {})})


async def page(
    state: AppState, session: auth.Session, name: str, *, current: str, title: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page behind the login: the nav bar (with the dead letters waiting) and its body."""
    waiting = await count_dead_letters(state.db)
    return render(name, status, session=session, csrf=session.csrf, current=current, title=title, dead_letters=waiting, **context)


async def forbidden(state: AppState, session: auth.Session) -> HTMLResponse:
    message = "This form did not come from this dashboard session (or the session has changed). Reload the page and try again."
    return await page(state, session, "message.html", current="", title="Refused", status=403, message=message)
