"""A customer's journeys: where each one is, and cancelling one."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api.answers import answers
from api.deps import CustomerId, StateDep, no_customer
from journeys.customers.profiles import is_known
from journeys.operations.split_results import SplitResults, split_results
from journeys.operations.journey_control import JourneyStatus, cancel_journey, journeys_of

router = APIRouter(tags=["journeys"])


@router.get(
    "/v1/customers/{customer_id}/journeys",
    response_model=list[JourneyStatus],
    summary="The customer's journeys: current step, what each waits for and until when",
    responses=answers(404),
)
async def list_journeys(customer_id: CustomerId, state: StateDep) -> list[JourneyStatus]:
    async with state.db.session() as session:
        if not await is_known(session, customer_id):
            raise no_customer(customer_id)
    return await journeys_of(state.outbox.client, state.registry, state.db, customer_id)


@router.delete(
    "/v1/customers/{customer_id}/journeys/{journey}",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Cancel one journey for this customer",
    responses=answers(404),
)
async def delete_journey(customer_id: CustomerId, journey: str, state: StateDep) -> dict[str, str]:
    if journey not in state.registry.journeys:
        known = ", ".join(sorted(state.registry.journeys))
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no journey named {journey!r} (known: {known})")
    if not await cancel_journey(state.outbox.client, state.registry, state.db, journey, customer_id):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"customer {customer_id!r} is not in journey {journey!r} right now"
        )
    return {"journey": journey, "customer_id": customer_id, "status": "cancel requested"}


@router.get(
    "/v1/journeys/{journey}/splits",
    response_model=SplitResults,
    summary="A/B split results: entries and goal conversions per variant",
    responses=answers(404),
)
async def journey_splits(journey: str, state: StateDep) -> SplitResults:
    if journey not in state.registry.journeys:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no journey named {journey!r}")
    return await split_results(state.db, journey)
