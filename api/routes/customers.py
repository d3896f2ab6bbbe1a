"""Customer profiles and their message log."""

from __future__ import annotations


from fastapi import APIRouter, Response, status
from fastapi.exceptions import RequestValidationError
from sqlmodel import col, select

from api.answers import answers
from api.errors import unavailable
from api.deps import CustomerId, DbDep, StateDep, customer_or_404, no_customer
from api.schemas import MessageOut
from journeys.customers.profiles import upsert_customer
from journeys.contracts.customers import Customer, CustomerIn
from journeys.operations.erasure import ErasureBusy, ErasureReport, TemporalUnavailable, erase_customer
from journeys.intake.event_store import store_events
from journeys.contracts.one_off_messages import MESSAGE_JOURNEY, OneOffMessageAccepted, OneOffMessageIn, message_event
from journeys.storage.tables import MessageRow
from journeys.templating.catalog import TemplateError
from journeys.contracts.journey_spec import workflow_id

router = APIRouter(tags=["customers"])



@router.put(
    "/v1/customers/{customer_id}",
    response_model=Customer,
    summary="Create or replace a customer",
    responses={201: {"model": Customer, "description": "created"}},
)
async def put_customer(customer_id: CustomerId, body: CustomerIn, db: DbDep, response: Response) -> Customer:
    async with db.session() as session:
        customer, created = await upsert_customer(session, db, customer_id, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return customer


@router.get("/v1/customers/{customer_id}", response_model=Customer, summary="Read a customer", responses=answers(404))
async def read_customer(customer_id: CustomerId, db: DbDep) -> Customer:
    async with db.session() as session:
        return await customer_or_404(session, customer_id)


@router.get(
    "/v1/customers/{customer_id}/messages",
    response_model=list[MessageOut],
    summary="The customer's message log, oldest first",
    responses=answers(404),
)
async def customer_messages(customer_id: CustomerId, db: DbDep) -> list[MessageOut]:
    async with db.report_session() as session:  # every message the customer ever had
        rows = (
            await session.exec(
                select(MessageRow)
                .where(MessageRow.customer_id == customer_id)
                .order_by(col(MessageRow.created_at), col(MessageRow.id))
            )
        ).all()
        if not rows:
            await customer_or_404(session, customer_id)
    return [MessageOut.from_row(r) for r in rows]


@router.post(
    "/v1/customers/{customer_id}/messages",
    response_model=OneOffMessageAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send one template to the customer now (support, product code)",
    responses={200: {"model": OneOffMessageAccepted, "description": "the same id was sent before: nothing more is sent"}, **answers(404)},
)
async def send_message(customer_id: CustomerId, body: OneOffMessageIn, state: StateDep, response: Response) -> OneOffMessageAccepted:
    """Through the same send policy and ledger as a journey's send: a marketing template
    respects subscriptions, caps and quiet hours (it waits for them to open). ``id`` is your
    idempotency key: the same id again is reported as a duplicate and sends nothing.
    The outcome shows in ``GET /v1/customers/{id}/messages``."""
    try:
        state.catalog.get(body.template)
    except TemplateError as exc:
        raise RequestValidationError([{"type": "value_error", "loc": ("body", "template"), "msg": str(exc), "input": None}]) from None
    async with state.db.session() as session:
        await customer_or_404(session, customer_id)
    event = message_event(customer_id, body)
    result = await store_events(state.db, [event], needs_dispatch=lambda _: True)
    state.outbox.submit(result.to_dispatch)
    duplicate = bool(result.duplicate_ids)
    if duplicate:
        response.status_code = status.HTTP_200_OK
    return OneOffMessageAccepted(
        id=body.id,
        customer_id=customer_id,
        template=body.template,
        duplicate=duplicate,
        workflow_id=workflow_id(MESSAGE_JOURNEY, customer_id, body.id),
    )


@router.delete(
    "/v1/customers/{customer_id}",
    response_model=ErasureReport,
    summary="Erase a customer: journeys cancelled and deleted, personal data removed",
    responses=answers(404),
)
async def delete_customer(customer_id: CustomerId, state: StateDep) -> ErasureReport:
    """Keeps only a hash of the email address on the suppression list, so the address
    never receives marketing mail again. Finishes or changes nothing: with Temporal away
    the answer is 503 with Retry-After, and nothing is deleted."""
    try:
        report = await erase_customer(state.db, state.outbox.client, state.registry, customer_id)
    except TemporalUnavailable:
        return unavailable("Temporal")  # type: ignore[return-value]
    except ErasureBusy:
        return unavailable("erasure (the customer's events are being dispatched)")  # type: ignore[return-value]
    if report is None:
        raise no_customer(customer_id)
    return report
