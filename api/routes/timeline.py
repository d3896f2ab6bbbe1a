"""``GET /v1/customers/{customer_id}/timeline``: the customer's story in time order, each
step with its ids (journeys/operations/timeline.py says what goes in)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.answers import answers
from api.deps import CustomerId, StateDep, no_customer
from journeys.customers.identity import resolve
from journeys.customers.profiles import is_known
from journeys.operations.timeline import MAX_ITEMS, Timeline, timeline

router = APIRouter(tags=["customers"])


@router.get(
    "/v1/customers/{customer_id}/timeline",
    response_model=Timeline,
    summary="Everything that happened to the customer, and why: events, journeys, sends and their reasons",
    responses=answers(404),
)
async def customer_timeline(
    customer_id: CustomerId, state: StateDep, limit: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 1000
) -> Timeline:
    async with state.db.session() as session:
        owner = (await resolve(session, [customer_id])).get(customer_id, customer_id)  # a merged id: its customer's
        if not await is_known(session, owner):
            raise no_customer(customer_id)
    return await timeline(state.db, state.outbox.client, state.registry, customer_id, limit)
