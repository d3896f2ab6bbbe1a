"""The activities a journey calls, from the workflow side: deliver a send (with the step's
name and idempotency key), log a deferred send cancelled, load the customer, record a
split or a conversion. journeys/contracts/activity_io.py names them; activities/ runs
them. Runs inside Temporal's sandbox.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.workflow import ActivityCancellationType
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from journeys.contracts.activity_io import (
        CANCEL_DEFERRED,
        DELIVER,
        LOAD_CUSTOMER,
        RECORD_CONVERSION,
        RECORD_ENTRY,
        RECORD_OUTCOME,
        RECORD_SPLIT,
        TO_QUEUE,
        CancelDeferredInput,
        DeliverInput,
        DeliverResult,
        LoadCustomerInput,
        LoadCustomerResult,
        RecordConversionInput,
        RecordEntryInput,
        RecordOutcomeInput,
        RecordSplitInput,
    )
    from journeys.contracts.customers import Customer
    from workflows.steps import StepTracker
    from workflows.versions import LOCAL_FIRST_SEND, RECORDS_RUNS, SEND_CANCEL_WAITS, since

DELIVER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["TemplateError"],
)
LOCAL_ATTEMPT = RetryPolicy(maximum_attempts=1)  # a failed first attempt goes to DELIVER_RETRY


def step_name(counts: dict[str, int], template: str) -> str:
    """``send:welcome``, then ``send:welcome#2`` for the second send of it in one entry."""
    count = counts[template] = counts.get(template, 0) + 1
    return f"send:{template}" if count == 1 else f"send:{template}#{count}"


def idempotency_key(entry_id: str, step: str) -> str:
    """Deterministic: workflow id + journey entry (its trigger event) + step. A retried
    activity, a replayed workflow or the next run after continue-as-new finds it again."""
    return f"{workflow.info().workflow_id}/{entry_id}/{step}"


async def deliver(request: DeliverInput, steps: StepTracker, engine: int) -> DeliverResult:
    """One send (Temporal retries it); counted as busy meanwhile.

    From engine version 2 the first attempt is a local activity: it runs in the workflow
    task that asked for it, so an email costs the server one workflow task and no activity
    task (the bare yardstick in bench/ needs two and one). Only a first attempt that failed
    and may be retried becomes a Temporal activity, with its durable retries and heartbeat.
    At most once rests on the ledger either way: a worker that died mid-send leaves the
    row ``sending``, and whichever attempt comes next marks it unknown.
    """
    # An exit during the send waits for its outcome (cancelled, or sent if the ESP had it).
    waits = since(SEND_CANCEL_WAITS, engine)
    cancellation = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED if waits else ActivityCancellationType.TRY_CANCEL
    steps.enter_activity()
    try:
        if since(LOCAL_FIRST_SEND, engine):
            try:
                return await workflow.execute_local_activity(
                    DELIVER,
                    request.model_copy(update={"asked_at": workflow.now()}),
                    result_type=DeliverResult,
                    cancellation_type=cancellation,
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=LOCAL_ATTEMPT,
                    summary=f"send {request.template}",
                )
            except (ActivityError, ApplicationError) as exc:
                # (Core reports some local failures wrapped in an ActivityError, some bare.)
                cause = exc.cause if isinstance(exc, ActivityError) else exc
                if not _retryable(cause):
                    raise
                # Temporal's own retries from here, after the pause its first retry would
                # take (none when the attempt only handed the send to the queue).
                if not (isinstance(cause, ApplicationError) and cause.type == TO_QUEUE):
                    await workflow.sleep(DELIVER_RETRY.initial_interval)
        return await workflow.execute_activity(
            DELIVER,
            request,
            result_type=DeliverResult,
            cancellation_type=cancellation,
            start_to_close_timeout=timedelta(seconds=60),
            # A send heartbeats while it takes long (activities/deliver.py): a worker that
            # died mid-send is noticed in seconds, and the retry marks the send unknown.
            heartbeat_timeout=timedelta(seconds=10),
            retry_policy=DELIVER_RETRY,
            summary=f"send {request.template}",
        )
    finally:
        steps.leave_activity()


def _retryable(cause: BaseException | None) -> bool:
    """A failed local attempt worth Temporal's retries: not a template error (non-retryable,
    as the activity says) and not a cancellation (the journey is ending)."""
    if isinstance(cause, ApplicationError):
        return not cause.non_retryable and (cause.type or "") not in (DELIVER_RETRY.non_retryable_error_types or ())
    return cause is not None and not is_cancelled_exception(cause)


async def cancel_deferred(key: str) -> None:
    """The journey ended while the send waited (quiet hours, cap): the log says so."""
    await workflow.execute_local_activity(
        CANCEL_DEFERRED,
        CancelDeferredInput(idempotency_key=key, reason="the journey ended before the deferred send"),
        start_to_close_timeout=timedelta(seconds=30),
    )


async def load_customer(customer_id: str, steps: StepTracker) -> Customer | None:
    steps.enter_activity()
    try:
        result = await workflow.execute_local_activity(
            LOAD_CUSTOMER,
            LoadCustomerInput(customer_id=customer_id),
            result_type=LoadCustomerResult,
            start_to_close_timeout=timedelta(seconds=30),
        )
    finally:
        steps.leave_activity()
    return result.customer


async def record_split(record: RecordSplitInput) -> None:
    await workflow.execute_local_activity(RECORD_SPLIT, record, start_to_close_timeout=timedelta(seconds=30))


async def record_conversion(record: RecordConversionInput) -> None:
    await workflow.execute_local_activity(RECORD_CONVERSION, record, start_to_close_timeout=timedelta(seconds=30))


async def record_entry(record: RecordEntryInput, engine: int) -> None:
    if since(RECORDS_RUNS, engine):
        await workflow.execute_local_activity(RECORD_ENTRY, record, start_to_close_timeout=timedelta(seconds=30))


async def record_outcome(record: RecordOutcomeInput, engine: int) -> None:
    if since(RECORDS_RUNS, engine):
        await workflow.execute_local_activity(RECORD_OUTCOME, record, start_to_close_timeout=timedelta(seconds=30))
