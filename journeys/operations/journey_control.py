"""What operators and support ask of a customer's journeys: where is she, and stop it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from sqlmodel import col, select

from journeys.contracts import search_attributes as sa
from journeys.storage.database import Database
from journeys.customers.identity import aliases_of
from journeys.storage.tables import JourneyEntryRow
from journeys.contracts.journey_io import QUERY_STATE, JourneyResult, JourneyState
from journeys.contracts.journey_spec import JourneyRoutes, workflow_id

QUERY_TIMEOUT = timedelta(seconds=3)


class JourneyStatus(BaseModel):
    journey: str
    workflow_id: str
    status: Literal["running", "completed", "failed", "canceled", "terminated", "continued_as_new", "timed_out"]
    step: str | None = None
    waiting_for: list[str] = []
    until: datetime | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None
    sent: list[str] = []


async def journeys_of(client: Client, registry: JourneyRoutes, db: Database, customer_id: str) -> list[JourneyStatus]:
    """The customer's latest run of every journey Temporal still remembers (running first)."""
    targets = await customer_workflow_ids(registry, db, customer_id)
    found = await asyncio.gather(*[_status(client, name, wid) for name, wid in targets])
    statuses = [s for s in found if s is not None]
    return sorted(statuses, key=lambda s: (s.status != "running", s.journey))


async def customer_workflow_ids(registry: JourneyRoutes, db: Database, customer_id: str) -> list[tuple[str, str]]:
    """(journey, workflow id) of every journey the customer can be in: the one id of each
    unkeyed journey, and each recorded run of keyed ones (reentry="always"), under the
    customer's id and every id merged into it (journeys/customers/identity.py)."""
    async with db.session() as session:
        ids = [customer_id, *await aliases_of(session, customer_id)]
        targets = [
            (name, workflow_id(name, cid))
            for cid in ids
            for name, spec in sorted(registry.journeys.items())
            if spec.key is None
        ]
        keyed = [name for name, spec in registry.journeys.items() if spec.key is not None]
        if keyed:
            rows = await session.exec(
                select(JourneyEntryRow.journey, JourneyEntryRow.workflow_id).where(
                    col(JourneyEntryRow.customer_id).in_(ids), col(JourneyEntryRow.journey).in_(keyed)
                )
            )
            targets.extend((journey, wid) for journey, wid in rows.all())
    return targets


async def _status(client: Client, journey: str, wid: str) -> JourneyStatus | None:
    handle = client.get_workflow_handle(wid, result_type=JourneyResult)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    status = (description.status or WorkflowExecutionStatus.RUNNING).name.lower()
    result = JourneyStatus(
        journey=journey,
        workflow_id=handle.id,
        status=status,  # type: ignore[arg-type]
        step=description.typed_search_attributes.get(sa.JOURNEY_STEP),
        started_at=description.start_time,
        closed_at=description.close_time,
    )
    if description.status == WorkflowExecutionStatus.RUNNING:
        try:
            state = await handle.query(QUERY_STATE, result_type=JourneyState, rpc_timeout=QUERY_TIMEOUT)
        except RPCError:
            return result  # no worker to answer right now: the search attribute still says where
        result.step, result.waiting_for, result.until, result.sent = state.step, state.waiting_for, state.until, state.sent
    elif description.status == WorkflowExecutionStatus.COMPLETED:
        try:  # a finished journey's result says what it sent (read from its history)
            outcome = await handle.result(rpc_timeout=QUERY_TIMEOUT)
        except (RPCError, WorkflowFailureError):
            return result
        result.sent = outcome.sent
    return result


async def cancel_journey(client: Client, registry: JourneyRoutes, db: Database, journey: str, customer_id: str) -> bool:
    """Ask the customer's running runs of a journey to stop (timers and sends are cancelled),
    keyed runs and runs under merged ids included; False if none runs."""
    targets = [wid for name, wid in await customer_workflow_ids(registry, db, customer_id) if name == journey]
    cancelled = await asyncio.gather(*[_cancel(client, wid) for wid in targets])
    return any(cancelled)


async def _cancel(client: Client, wid: str) -> bool:
    handle = client.get_workflow_handle(wid)
    try:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return False
        await handle.cancel()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
