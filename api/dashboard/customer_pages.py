"""``/dashboard/customers``: the search box, and with ``?id=`` the customer's timeline
(journeys/operations/timeline.py says what goes in). ``message=`` or ``workflow=``
narrow it to one send or one journey run: the links on each row's ids."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.dashboard import pages
from api.deps import StateDep
from journeys.contracts.events import ID_PATTERN
from journeys.customers.profiles import is_known
from journeys.operations.timeline import timeline

router = APIRouter()

SHOWN = 500  # items; beyond that the latest are shown, and the page says so
MAX_ID = 200
_ID = re.compile(ID_PATTERN)
_FILTERS = ("message", "workflow")


@router.get("/dashboard/customers", response_class=HTMLResponse)
async def customer_page(request: Request, state: StateDep) -> Response:
    session = pages.session_of(request, state)
    if session is None:
        return pages.to_login(request)
    customer_id = request.query_params.get("id", "").strip()
    context: dict[str, Any] = {"customer_id": customer_id, "story": None, "items": [], "narrowed": None, "error": None}
    status = 200
    if not customer_id:
        pass
    elif len(customer_id) > MAX_ID or not _ID.fullmatch(customer_id):
        context["error"] = "Not a customer id: ids are 1 to 200 characters, without spaces, slashes or control characters."
        status = 422
    else:
        async with state.db.session() as db_session:
            known = await is_known(db_session, customer_id)
        if not known:
            context["error"] = "No customer with this id: never seen, or erased."
            status = 404
        else:
            story = await timeline(state.db, state.outbox.client, state.registry, customer_id, SHOWN)
            narrowed = next(((name, request.query_params[name]) for name in _FILTERS if request.query_params.get(name)), None)
            items = story.items
            if narrowed is not None:
                field = f"{narrowed[0]}_id"
                items = [item for item in items if getattr(item, field) == narrowed[1]]
            context.update(story=story, items=items, narrowed=narrowed)
    title = f"Customer {customer_id}" if context["story"] is not None else "Customers"
    return await pages.page(state, session, "customer.html", current="customers", title=title, status=status, **context)
