"""Inputs and outputs of the activities, shared with workflow code (no I/O here).

Workflows call activities by these names, so the workflow sandbox never imports the
modules that talk to databases and mail servers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from journeys.contracts.customers import Customer

DELIVER = "deliver"
CANCEL_DEFERRED = "cancel_deferred"
LOAD_CUSTOMER = "load_customer"

# What became of one send, as the message log shows it. Final: sent, skipped (no
# address), failed, unknown (an attempt died mid-send), suppressed, unsubscribed, capped,
# cancelled. Not final: deferred (quiet hours, or a cap the journey chose to wait out).
SendStatus = Literal[
    "sent", "skipped", "failed", "unknown", "suppressed", "unsubscribed", "capped", "deferred", "cancelled"
]
# What a send held by the frequency cap does: give up (logged as capped), or wait for a slot.
IfCapped = Literal["skip", "wait"]


class RecordEntryInput(BaseModel):
    """A journey run entered by its trigger event, for its analytics."""

    journey: str
    customer_id: str
    entry_id: str
    workflow_id: str
    at: datetime | None = None  # the journey's clock (workflow.now()) when it happened


class DeliverInput(BaseModel):
    # Deterministic: workflow id + journey entry (trigger event id) + step. A retried
    # activity, or a replayed workflow, finds the same key in the ledger.
    idempotency_key: str
    customer_id: str
    template: str
    context: dict[str, Any] = Field(default_factory=dict)
    journey: str | None = None
    step: str | None = None
    if_capped: IfCapped = "skip"
    # The journey entry (trigger event id) the send is part of: its A/B variants.
    entry_id: str | None = None
    # Those variants (split -> variant), as the journey knows them, so the send's figures
    # are counted per variant without a lookup; None (an older caller): looked up.
    variants: dict[str, str] | None = None
    # The run's entry, when this is the run's first activity: recorded in the send's own
    # transaction instead of a local activity of its own (workflows/records.py).
    entered: RecordEntryInput | None = None
    # The workflow's time when it asked for the send: the policy's clock for an attempt run
    # as a local activity, whose own scheduled time is the worker's wall clock (in a
    # time-skipping test, days behind the journey's).
    asked_at: datetime | None = None


# The error type of a local first attempt that did nothing and hands the send to Temporal's
# task queue at once (a send rate limit is set: only queued activities are held to it).
TO_QUEUE = "SendGoesToQueue"


class DeliverResult(BaseModel):
    message_id: str
    status: SendStatus
    reason: str | None = None
    esp_message_id: str | None = None
    # deferred: when to try again (the journey sleeps on a durable timer until then), and why
    until: datetime | None = None
    deferred_for: Literal["quiet hours", "frequency cap"] | None = None
    # The profile as delivery saw it: journeys get a fresh customer for free after a send.
    customer: Customer | None = None


class CancelDeferredInput(BaseModel):
    """A deferred send whose journey ended before it could go: logged as cancelled."""

    idempotency_key: str
    reason: str


class LoadCustomerInput(BaseModel):
    customer_id: str


class LoadCustomerResult(BaseModel):
    customer: Customer | None = None


RECORD_SPLIT = "record_split"
RECORD_CONVERSION = "record_conversion"
RECORD_OUTCOME = "record_outcome"
RECORD_ENTRY = "record_entry"


class RecordSplitInput(BaseModel):
    journey: str
    customer_id: str
    entry_id: str
    split: str
    variant: str
    at: datetime | None = None  # the journey's clock (workflow.now()) when it happened


class RecordConversionInput(BaseModel):
    journey: str
    customer_id: str
    entry_id: str
    goal: str
    event_id: str
    variants: dict[str, str] = Field(default_factory=dict)
    at: datetime | None = None  # the journey's clock (workflow.now()) when it happened


class RecordOutcomeInput(BaseModel):
    """How a journey run ended, for its analytics (journeys/analytics/runs.py)."""

    journey: str
    customer_id: str
    entry_id: str
    outcome: Literal["completed", "exited", "cancelled"]
    exit_event: str | None = None
    workflow_id: str = ""
    at: datetime | None = None  # the journey's clock (workflow.now()) when it happened
