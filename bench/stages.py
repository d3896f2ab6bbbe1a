"""Where each email of the steady run spent its time, stage by stage: the per-email profile
``make bench`` prints beside the p50/p99 (what the tail is made of, not only how long it is).

Every stage is read from what the stack itself recorded, on the same wall clock (one
machine): the client's send and 202; the outbox row's ``dispatched_at`` (the API handed the
event to Temporal); the run's Temporal history (started, its first workflow task scheduled
and picked up by the worker); the ledger row's ``created_at`` (the send's claim, after
policy and render) and ``sent_at`` (the ESP answered); the catcher's arrival time.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from journeys.contracts.journey_spec import workflow_id

# (name, from, to): the stage between two recorded moments.
STAGES = (
    ("the API's 202", "sent", "answered"),
    ("202 -> handed to Temporal", "answered", "dispatched"),
    ("handed -> run started", "dispatched", "started"),
    ("first workflow task waits for the worker", "task_scheduled", "task_started"),
    ("workflow task -> send claimed (policy, render)", "task_started", "claimed"),
    ("claimed -> ESP answered", "claimed", "sent_at"),
)


async def stage_breakdown(
    client: Client, database: Path, customers: list[str], sent: list[float], answered: dict[str, float], journey: str = "welcome"
) -> dict[str, dict[str, float]]:
    """p50/p90/p99 in ms of each stage over the customers' emails."""
    moments = _from_database(database, customers)
    for customer, at in zip(customers, sent):
        moments.setdefault(customer, {}).update(sent=at, answered=answered.get(customer, at))
        await _from_history(client, workflow_id(journey, customer), moments[customer])
    figures: dict[str, dict[str, float]] = {}
    for name, start, end in STAGES:
        spans = sorted(
            (m[end] - m[start]) * 1000 for m in moments.values() if m.get(start) is not None and m.get(end) is not None
        )
        if spans:
            figures[name] = {f"p{p}": spans[min(len(spans) - 1, int(len(spans) * p / 100))] for p in (50, 90, 99)}
    return figures


def _from_database(database: Path, customers: list[str]) -> dict[str, dict[str, Any]]:
    wanted = set(customers)
    moments: dict[str, dict[str, Any]] = {}
    with sqlite3.connect(database) as db:
        for customer, dispatched in db.execute(
            "SELECT d.customer_id, d.dispatched_at FROM dispatches d JOIN events e ON e.id = d.event_id WHERE e.type = 'user.signed_up'"
        ):
            if customer in wanted:
                moments.setdefault(customer, {})["dispatched"] = _stamp(dispatched)
        for customer, created, sent_at in db.execute("SELECT customer_id, created_at, sent_at FROM messages"):
            if customer in wanted:
                moments.setdefault(customer, {}).update(claimed=_stamp(created), sent_at=_stamp(sent_at))
    return moments


async def _from_history(client: Client, wid: str, into: dict[str, Any]) -> None:
    names = {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "started",
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED: "task_scheduled",
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED: "task_started",
    }
    async for event in client.get_workflow_handle(wid).fetch_history_events():
        name = names.get(event.event_type)
        if name is not None and name not in into:
            into[name] = event.event_time.ToDatetime().replace(tzinfo=timezone.utc).timestamp()
        if "task_started" in into:
            return


def _stamp(text: str | None) -> float | None:
    # SQLAlchemy's SQLite text for the project's UTC datetimes: "YYYY-MM-DD HH:MM:SS.ffffff"
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() if text else None
