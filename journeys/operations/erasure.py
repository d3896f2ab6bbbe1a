"""Erasing a customer (GDPR art. 17, CCPA deletion): ``DELETE /v1/customers/{id}``.

What goes: the profile, the customer's events (and their outbox rows), the message log,
what happened to their mail (opens, clicks, bounces: ``message_events``), journey entries
and runs, split assignments and conversions, and every Temporal run of their
journeys, histories included (histories hold event properties and the profile). What
stays: a SHA-256 of the email address on the suppression list, so an erased address is
never mailed marketing again, and nothing that names the person.

Erasure finishes or changes nothing, in this order:

1. claim the customer's ids for dispatch, so none of their events reaches Temporal while
   this runs (journeys/dispatch/claims.py);
2. delete their journeys' runs in Temporal (running ones are terminated first). Runs are
   found by the ``CustomerKey`` search attribute, a hash of the id, so an id with quotes
   needs no quoting in a visibility query, and by workflow id for runs started before
   that attribute existed. If Temporal is away, ``TemporalUnavailable`` is raised (the
   API answers 503 with Retry-After) and nothing has been deleted;
3. delete the rows, all in one transaction, and give the claims back. The transaction
   first locks the customer's messages (journeys/intake/engagement.py, in id order), as
   every tracking hit and ESP webhook does before writing about a message: a click or a
   webhook in flight either commits first, and what it wrote is deleted here, or waits
   and then finds the message gone. Nothing recorded about a message outlives its
   erasure, and no event makes the erased id known again.

Temporal deletes runs asynchronously; the report counts the runs it was asked to delete.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy import delete, update
from sqlmodel import col, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from journeys.consent.suppressions import suppress
from journeys.contracts import search_attributes as sa
from journeys.contracts.journey_spec import JourneyRoutes
from journeys.customers.identity import aliases_of
from journeys.dispatch import claims
from journeys.intake.engagement import lock_messages
from journeys.operations.journey_control import customer_workflow_ids
from journeys.analytics.runs import end_open_runs
from journeys.storage.analytics_tables import JourneyRunRow, MessageEventRow
from journeys.storage.database import Database
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
    utcnow,
)

log = logging.getLogger("journeys.erasure")

CLAIM_LEASE = timedelta(minutes=5)
CLAIM_PATIENCE = 10.0  # seconds to wait for a dispatcher to give a claim back
# Characters a visibility query cannot match in a workflow id (see the module docstring).
_UNQUERYABLE = set("\"'\\")


class ErasureReport(BaseModel):
    customer_id: str
    journey_runs_deleted: int
    events_deleted: int
    messages_deleted: int
    address_suppressed: bool


class TemporalUnavailable(Exception):
    """Temporal could not be reached to delete the journeys; nothing was erased."""


class ErasureBusy(Exception):
    """The customer's events are being dispatched right now; nothing was erased, try again."""


async def erase_customer(db: Database, client: Client, registry: JourneyRoutes, customer_id: str) -> ErasureReport | None:
    """Erase everything about the customer; None if nothing is known about them."""
    async with db.session() as session:
        customer = await session.get(CustomerRow, customer_id)
        # Ids merged into this customer (journeys/customers/identity.py): theirs too.
        ids = [customer_id, *await aliases_of(session, customer_id)]
        has_events = (await session.exec(select(EventRow.id).where(col(EventRow.customer_id).in_(ids)).limit(1))).first()
    if customer is None and has_events is None:
        return None
    owner = f"erasure:{uuid.uuid4().hex[:12]}"
    await _claim(db, owner, ids)
    try:
        targets = [wid for _, wid in await customer_workflow_ids(registry, db, customer_id)]
        try:
            runs = await _delete_runs(client, ids, targets)
        except (RPCError, RuntimeError, OSError) as exc:
            raise TemporalUnavailable(f"Temporal: {exc}") from exc
        report = await _delete_rows(db, customer_id, ids, runs)
    finally:
        await claims.give_back(db, owner, ids)
    log.info("erased customer %s: %s", customer_id, report.model_dump())
    return report


async def _claim(db: Database, owner: str, ids: list[str]) -> None:
    end = asyncio.get_running_loop().time() + CLAIM_PATIENCE
    held: set[str] = set()
    while True:
        now = utcnow()
        held |= await claims.take(db, owner, set(ids) - held, now, now + CLAIM_LEASE)
        if held == set(ids):
            return
        if asyncio.get_running_loop().time() > end:
            await claims.give_back(db, owner, held)
            raise ErasureBusy(f"customer {ids[0]}'s events are being dispatched; try again shortly")
        await asyncio.sleep(0.2)


async def _delete_runs(client: Client, ids: list[str], workflow_ids: list[str]) -> int:
    """Ask Temporal to delete every run of the customer's journeys; returns how many."""
    runs: set[tuple[str, str]] = set()
    for customer_id in ids:
        query = f'{sa.CUSTOMER_KEY.name} = "{sa.customer_key(customer_id)}"'
        runs |= {(e.id, e.run_id) async for e in client.list_workflows(query)}
    found = {wid for wid, _ in runs}
    for wid in workflow_ids:
        if _UNQUERYABLE.isdisjoint(wid):  # runs from before CustomerKey was set
            runs |= {(e.id, e.run_id) async for e in client.list_workflows(f'WorkflowId = "{wid}"')}
        elif wid not in found:
            runs.add((wid, ""))  # the id's current run, found without a query
    deleted = await asyncio.gather(*[_delete(client, wid, run_id) for wid, run_id in sorted(runs)])
    return sum(deleted)


async def _delete(client: Client, wid: str, run_id: str) -> int:
    try:
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=wid, run_id=run_id))
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return 0
        raise
    return 1


async def _delete_rows(db: Database, customer_id: str, ids: list[str], runs: int) -> ErasureReport:
    async with db.session() as session:
        # First, before any read: the lock hits and webhooks take (SQLite: the write lock).
        message_ids = (await session.exec(select(MessageRow.id).where(col(MessageRow.customer_id).in_(ids)))).all()
        await lock_messages(db, session, message_ids)
        if db.is_sqlite and not message_ids:  # no message to lock: the write lock all the same
            await session.exec(  # type: ignore[call-overload]
                update(CustomerRow).where(col(CustomerRow.id) == customer_id).values(updated_at=CustomerRow.updated_at)
            )
        customer = await session.get(CustomerRow, customer_id)
        event_ids = list((await session.exec(select(EventRow.id).where(col(EventRow.customer_id).in_(ids)))).all())
        for start in range(0, len(event_ids), 500):
            chunk = event_ids[start : start + 500]
            await session.exec(delete(DispatchRow).where(col(DispatchRow.event_id).in_(chunk)))  # type: ignore[call-overload]
            await session.exec(delete(EventRow).where(col(EventRow.id).in_(chunk)))  # type: ignore[call-overload]
        messages = await session.exec(delete(MessageRow).where(col(MessageRow.customer_id).in_(ids)))  # type: ignore[call-overload]
        # Runs still open end here (their Temporal runs were deleted above, so no outcome
        # will ever come): counted as cancelled, or "active" would count them for ever.
        await end_open_runs(db, session, ids)
        # Analytics facts name the customer too: every open, click and bounce of their mail
        # (with the URLs they clicked) and each journey run. The roll-ups are counts only.
        for table in (
            JourneyEntryRow, SplitAssignmentRow, ConversionRow, SubscriptionRow, CustomerAliasRow, MessageEventRow, JourneyRunRow,
        ):
            await session.exec(delete(table).where(col(table.customer_id).in_(ids)))  # type: ignore[call-overload]
        suppressed = False
        if customer is not None:
            if customer.email:
                await suppress(db, session, customer.email, "erased", source="erasure")
                suppressed = True
            await session.exec(delete(CustomerRow).where(col(CustomerRow.id) == customer_id))  # type: ignore[call-overload]
        await session.commit()
    return ErasureReport(
        customer_id=customer_id,
        journey_runs_deleted=runs,
        events_deleted=len(event_ids),
        messages_deleted=messages.rowcount or 0,
        address_suppressed=suppressed,
    )


