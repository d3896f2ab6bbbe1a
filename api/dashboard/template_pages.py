"""``/dashboard/templates`` (every template: what it is, its languages, its sample's subject)
and ``/dashboard/templates/{name}`` (its preview: the email in a frame at 600 and 375 px,
its text part and headers, for the sample or a customer id, in a locale, chosen in a GET
form). The preview is the API's (``POST /v1/templates/{name}/preview``,
journeys/operations/template_preview.py): not tracked, nothing sent.

The email goes into ``<iframe srcdoc>``, escaped as any attribute value, and the frame is
``sandbox``ed with nothing allowed: no script, no form, no navigation of this page, an
origin of its own. The page's Content-Security-Policy still lets no script run anywhere
(the frame's document inherits it); it adds ``frame-src 'self'`` for the frame and lets
the email's https images load, as a mail client would.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.dashboard import pages
from api.deps import StateDep
from api.routes.templates import previewer
from journeys.contracts.customers import LOCALE_PATTERN
from journeys.contracts.events import ID_PATTERN
from journeys.operations.template_preview import RenderFailed, UnknownCustomer, UnknownTemplate

router = APIRouter()
log = logging.getLogger("journeys.dashboard")

WIDTHS = (600, 375)  # the widest an email is laid out for, and a phone's
PREVIEW_CSP = pages.HEADERS["Content-Security-Policy"].replace(
    "img-src 'self' data:", "img-src 'self' data: https:"
) + "; frame-src 'self'"
_ID = re.compile(ID_PATTERN)
_LOCALE = re.compile(LOCALE_PATTERN)


@dataclass(frozen=True)
class Listed:
    name: str
    category: str | None
    topic: str | None
    locales: list[str]
    subject: str | None
    error: str | None = None


@router.get("/dashboard/templates", response_class=HTMLResponse)
async def templates_page(request: Request, state: StateDep) -> Response:
    session = pages.session_of(request, state)
    if session is None:
        return pages.to_login(request)
    shown = previewer(request, state)
    listed = []
    for name in shown.names():
        try:
            preview = (await shown.preview(state.db, name)).preview
        except (UnknownTemplate, RenderFailed) as exc:
            listed.append(Listed(name, None, None, [], None, str(exc)))
        except Exception as exc:  # a bug of ours: this template's row says so, the others still list
            log.exception("template %s: its preview failed", name)
            listed.append(Listed(name, None, None, [], None, f"its preview failed: {type(exc).__name__}: {exc}"))
        else:
            listed.append(Listed(name, preview.category, preview.topic, preview.locales, preview.subject))
    return await pages.page(state, session, "templates.html", current="templates", title="Templates", templates=listed)


@router.get("/dashboard/templates/{name}", response_class=HTMLResponse)
async def template_page(name: str, request: Request, state: StateDep) -> Response:
    session = pages.session_of(request, state)
    if session is None:
        return pages.to_login(request)
    shown = previewer(request, state)
    if name not in shown.names():
        message = f"There is no template named {name!r}. The templates are: {', '.join(shown.names()) or 'none'}."
        return await pages.page(state, session, "message.html", current="templates", title="No such template", status=404, message=message)
    customer_id = request.query_params.get("customer_id", "").strip()
    locale = request.query_params.get("locale", "").strip()
    context: dict[str, Any] = {"template": name, "customer_id": customer_id, "locale": locale, "preview": None, "error": None,
                               "widths": WIDTHS, "locales": []}
    status = 200
    if customer_id and (len(customer_id) > 200 or not _ID.fullmatch(customer_id)):
        context["error"] = "Not a customer id: ids are 1 to 200 characters, without spaces, slashes or control characters."
        status = 422
    elif locale and (len(locale) > 35 or not _LOCALE.fullmatch(locale)):
        context["error"] = "Not a locale: a language tag such as fr or pt-BR."
        status = 422
    else:
        try:
            rendered = await shown.preview(state.db, name, customer_id=customer_id or None, locale=locale or None)
        except UnknownCustomer:
            context["error"] = "No customer with this id: never seen, or erased. Leave it empty for the template's sample."
            status = 404
        except (UnknownTemplate, RenderFailed) as exc:
            context["error"] = f"It does not render: {exc}"
            status = 422
        else:
            context["preview"] = rendered.preview
    preview = context["preview"]
    context["locales"] = preview.locales if preview is not None else shown.locales(name)
    answer = await pages.page(state, session, "template_preview.html", current="templates", title=f"Template {name}",
                              status=status, **context)
    answer.headers["Content-Security-Policy"] = PREVIEW_CSP
    return answer

