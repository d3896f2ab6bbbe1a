"""Erasing a customer (GDPR art. 17, CCPA deletion): ``DELETE /v1/customers/{id}``.

What goes: the profile, the customer's events (and their outbox rows), the message log,
journey entries, split assignments and conversions, and every Temporal run of their
journeys, histories included (histories hold event properties and the profile). What
stays: a SHA-256 of the email address on the suppression list, so an erased address is
never mailed marketing again, and nothing that names the person.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import BaseModel
from sqlalchemy import delete
from sqlmodel import col, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from journeys.storage.database import Database
from journeys.customers.identity import aliases_of
from journeys.operations.journey_control import customer_workflow_ids
from journeys.storage.tables import (
    ConversionRow,
    CustomerAliasRow,
    CustomerRow,
    DispatchRow,
    EventRow,
    JourneyEntryRow,
    MessageRow,
    SplitAssignmentRow,
    SubscriptionRow,
)
from journeys.consent.suppressions import suppress
from journeys.contracts.journey_spec import JourneyRoutes

log = logging.getLogger("journeys.erasure")


class ErasureReport(BaseModel):
    customer_id: str
    journey_runs_deleted: int
    events_deleted: int
    messages_deleted: int
    address_suppressed: bool


async def erase_customer(db: Database, client: Client, registry: JourneyRoutes, customer_id: str) -> ErasureReport | None:
    """Erase everything about the customer; None if nothing is known about them."""
    async with db.session() as session:
        customer = await session.get(CustomerRow, customer_id)
        # Ids merged into this customer (journeys/customers/identity.py): what stands under them is theirs too.
        aliases = await aliases_of(session, customer_id)
        ids = [customer_id, *aliases]
        event_ids = list((await session.exec(select(EventRow.id).where(col(EventRow.customer_id).in_(ids)))).all())
        if customer is None and not event_ids:
            return None
        # Events first: a pending dispatch must not start a journey again mid-erasure.
        for start in range(0, len(event_ids), 500):
            chunk = event_ids[start : start + 500]
            await session.exec(delete(DispatchRow).where(col(DispatchRow.event_id).in_(chunk)))  # type: ignore[call-overload]
            await session.exec(delete(EventRow).where(col(EventRow.id).in_(chunk)))  # type: ignore[call-overload]
        await session.commit()

    # Before the entries go: they are how keyed journeys' runs are found.
    targets = await customer_workflow_ids(registry, db, customer_id)
    runs = await asyncio.gather(*[_delete_runs(client, wid) for _, wid in targets])

    async with db.session() as session:
        messages = await session.exec(delete(MessageRow).where(col(MessageRow.customer_id).in_(ids)))  # type: ignore[call-overload]
        for table in (JourneyEntryRow, SplitAssignmentRow, ConversionRow, SubscriptionRow, CustomerAliasRow):
            await session.exec(delete(table).where(col(table.customer_id).in_(ids)))  # type: ignore[call-overload]
        suppressed = False
        if customer is not None:
            if customer.email:
                await suppress(db, session, customer.email, "erased", source="erasure")
                suppressed = True
            await session.exec(delete(CustomerRow).where(col(CustomerRow.id) == customer_id))  # type: ignore[call-overload]
        await session.commit()
    report = ErasureReport(
        customer_id=customer_id,
        journey_runs_deleted=sum(runs),
        events_deleted=len(event_ids),
        messages_deleted=messages.rowcount or 0,
        address_suppressed=suppressed,
    )
    log.info("erased customer %s: %s", customer_id, report.model_dump())
    return report


async def _delete_runs(client: Client, wid: str) -> int:
    """Delete every run Temporal still has under this workflow id (running ones are terminated)."""
    deleted = 0
    run_ids = [execution.run_id async for execution in client.list_workflows(f'WorkflowId = "{wid}"')]
    for run_id in run_ids or [""]:
        try:
            await client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=wid, run_id=run_id),
                )
            )
            deleted += 1
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
    return deleted
