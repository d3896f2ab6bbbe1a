"""The Temporal worker: every journey in workflows/journeys/ plus the activities they call.

Run it with ``journeys worker`` (or ``python worker.py``). Scale out by running more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.customers import CustomerActivities
from activities.deliver import DeliveryActivities
from journeys.providers import EmailSender, sender_from_settings
from activities.experiments import ExperimentActivities
from journeys.storage.database import Database
from journeys.storage.payload_walks import skip_needless_payload_walks
from journeys.telemetry.heap import settle_heap
from journeys.storage.settings import Settings, get_settings
from journeys.telemetry.endpoints import MetricsServer, serve_metrics, temporal_runtime
from journeys.templating.catalog import TemplateCatalog
from workflows.registry import JourneyDefinitionError, Registry, discover

log = logging.getLogger("journeys.worker")

# Modules journeys import that are deterministic and side-effect free: loaded once, shared
# by every workflow run instead of re-imported into each sandbox (memory and start time).
PASSTHROUGH_MODULES = (
    "journeys.contracts",  # the only project code besides the engine that crosses the boundary
    "workflows.engine",  # and the engine's parts:
    "workflows.activity_calls",
    "workflows.definition",
    "workflows.goals",
    "workflows.handover",
    "workflows.inbox",
    "workflows.local_time",
    "workflows.steps",
    "workflows.timers",
    "workflows.variants",
    "workflows.versions",
    "pydantic",
)


def workflow_runner(sandboxed: bool) -> WorkflowRunner:
    """Temporal's sandbox, or none (``JOURNEYS_WORKFLOW_SANDBOX``; see journeys/storage/settings.py)."""
    if not sandboxed:
        return UnsandboxedWorkflowRunner()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


def check_templates(settings: Settings, registry: Registry) -> None:
    """Every template declares its category, and every template a journey sends exists."""
    catalog = TemplateCatalog(settings.templates_dir)
    undeclared = catalog.check()
    if undeclared:
        raise JourneyDefinitionError("\n".join(undeclared))
    registry.check_templates(set(catalog.names()))


def build_worker(
    client: Client,
    *,
    settings: Settings,
    db: Database,
    sender: EmailSender,
    registry: Registry | None = None,
    **worker_options: Any,
) -> Worker:
    registry = registry or discover(settings.journey_packages)
    check_templates(settings, registry)
    skip_needless_payload_walks()  # no codec here: the SDK's walks would change nothing
    delivery = DeliveryActivities(db, sender, settings)
    customers = CustomerActivities(db)
    experiments = ExperimentActivities(db)
    activities: Sequence[Any] = [
        delivery.deliver,
        delivery.cancel_deferred,
        customers.load_customer,
        experiments.record_split,
        experiments.record_conversion,
        experiments.record_outcome,
        experiments.record_entry,
    ]
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=registry.workflow_classes,
        activities=activities,
        workflow_runner=workflow_runner(settings.workflow_sandbox),
        max_cached_workflows=settings.worker_max_cached_workflows,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        # Sends are the only activities on this queue that are not local, so Temporal's
        # task-queue rate limit is a send rate limit, held across every worker.
        max_task_queue_activities_per_second=settings.send_rate_limit,
        **worker_options,
    )


def temporal_runtime_of(settings: Settings) -> Runtime:
    """The process's Temporal runtime, exporting the SDK's metrics on JOURNEYS_TEMPORAL_METRICS_PORT.

    Metrics are for watching the sends, never a reason to stop them: a port already taken
    (a second worker on this host) is logged as an error and the worker runs without that
    endpoint. The same holds for our own endpoint (``serve_worker_metrics``)."""
    try:
        return temporal_runtime(settings.metrics_bind, settings.temporal_metrics_port)
    except ValueError as exc:
        log.error("Temporal SDK metrics off: %s (set JOURNEYS_TEMPORAL_METRICS_PORT to a free port, or 0)", exc)
        return temporal_runtime()


def serve_worker_metrics(settings: Settings) -> MetricsServer | None:
    try:
        endpoint = serve_metrics(settings.metrics_bind, settings.worker_metrics_port)
    except OSError as exc:
        log.error("worker metrics off: %s:%s: %s (set JOURNEYS_WORKER_METRICS_PORT to a free port, or 0)",
                  settings.metrics_bind, settings.worker_metrics_port, exc)
        return None
    if endpoint is not None:
        log.info("worker metrics on http://%s:%d/metrics", settings.metrics_bind, endpoint.port)
    return endpoint


async def run_worker(settings: Settings) -> None:
    from journeys.storage.temporal import check_namespace, connect

    registry = discover(settings.journey_packages)
    check_templates(settings, registry)  # before connecting: a mistake is reported at once
    sender = sender_from_settings(settings)
    db = Database(settings.resolved_database_url, sqlite_inline=True)
    client = await connect(settings, runtime=temporal_runtime_of(settings))
    await check_namespace(client)  # a start Temporal would refuse, every time: say so now
    worker = build_worker(client, settings=settings, db=db, sender=sender, registry=registry)
    endpoint = serve_worker_metrics(settings)
    log.info(
        "worker polling %s on %s (namespace %s); journeys: %s; ESP: %s",
        settings.temporal_task_queue,
        settings.temporal_address,
        settings.temporal_namespace,
        ", ".join(sorted(registry.journeys)),
        sender.name,
    )
    settle_heap()  # what the started worker holds is out of the collector's way
    try:
        await worker.run()
    finally:
        if endpoint is not None:
            endpoint.close()
        await sender.aclose()
        await db.dispose()


if __name__ == "__main__":
    from journeys.storage import logs
    from journeys.telemetry import log_context

    logs.configure(log_format=get_settings().log_format, context=log_context.current)
    asyncio.run(run_worker(get_settings()))
