"""The FastAPI app: routes are thin, the work happens in the services under journeys/."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import email_validator
from fastapi import Depends, FastAPI
from temporalio.client import Client

from api import errors, openapi_doc
from api.answers import AUTHED
from api.deps import require_api_key
from api.guard import RequestGuard
from api.request_metrics import RequestMetrics
from api.routes.metrics import router as metrics_router
from api.dashboard.routes import router as dashboard_router
from api.routes import (
    analytics,
    customers,
    dead_letters,
    dev_mail,
    events,
    health,
    journeys,
    segment,
    subscriptions,
    suppressions,
    templates,
    timeline,
    tracking,
    unsubscribe,
    webhooks,
)
from api.state import AppState
from journeys.storage.database import Database
from journeys.dispatch.outbox import Outbox
from journeys.intake.group_commit import GroupCommit
from journeys.providers.webhook_settings import check_webhook_settings
from journeys.storage.settings import Settings, get_settings
from journeys.templating.catalog import TemplateCatalog
from journeys.storage.temporal import connect
from journeys.telemetry.endpoints import temporal_runtime
from journeys.telemetry.heap import settle_heap
from workflows.registry import Registry, discover

log = logging.getLogger("journeys.api")


def create_app(settings: Settings | None = None, *, temporal_client: Client | None = None) -> FastAPI:
    """Build the app. Tests pass their own settings (and may pass a connected client)."""
    settings = settings or get_settings()
    # An address at a special-use name (ann@shop.test, ops@host.local) is well formed; the
    # ESP decides whether it delivers. email_validator refuses them unless told otherwise.
    email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()
    check_webhook_settings(settings)  # a malformed secret stops the API here, named
    catalog = TemplateCatalog(settings.templates_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry: Registry = discover(settings.journey_packages)
        db = Database(settings.resolved_database_url, sqlite_inline=True)
        # Lazy: the API starts and accepts events even while Temporal is away.
        # The process's runtime: the SDK's core logs through Python logging (JSON lines stay JSON).
        client = temporal_client or await connect(settings, lazy=True, runtime=temporal_runtime())
        outbox = Outbox(
            db, client, registry, settings.temporal_task_queue, settings.dispatch_concurrency,
            max_attempts=settings.dispatch_max_attempts, engine_version=settings.engine_version,
        )
        app.state.journeys = AppState(
            settings=settings,
            api_key=settings.resolved_api_key(),
            db=db,
            registry=registry,
            outbox=outbox,
            catalog=catalog,
            unsubscribe_secret=settings.resolved_unsubscribe_secret(),
            intake=GroupCommit(db, needs_dispatch=lambda e: registry.cares_about(e.type)),
        )
        stop = asyncio.Event()
        relay = asyncio.create_task(outbox.run_relay(settings.relay_interval_seconds, stop), name="outbox-relay")
        dispatcher = asyncio.create_task(outbox.run_dispatcher(stop), name="outbox-dispatcher")
        log.info("API ready; journeys: %s", ", ".join(sorted(registry.journeys)))
        settle_heap()  # what the started API holds is out of the collector's way
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(relay, dispatcher)
            await db.dispose()

    app = FastAPI(
        title="Journeys",
        version="0.1.0",
        summary="Event-driven customer journeys on Temporal",
        description="Send events; journeys (Temporal workflows) wait, branch and send email. "
        "Every `/v1` route needs `Authorization: Bearer <API key>`.",
        lifespan=lifespan,
    )
    errors.install(app)
    # Before any route reads a body: the API key where needed, and the body size (api/guard.py).
    app.add_middleware(RequestGuard)
    # Added last, so outermost: what the guard refuses is counted too (api/request_metrics.py).
    app.add_middleware(RequestMetrics)
    authed = [Depends(require_api_key)]
    for router in (
        events.router, customers.router, timeline.router, journeys.router, analytics.router, subscriptions.router,
        suppressions.router, dead_letters.router, templates.router,
    ):
        app.include_router(router, dependencies=authed, responses=AUTHED)
    # Segment SDKs authenticate their own way (write key as basic-auth user, or in the body).
    app.include_router(segment.router)
    # ESPs sign their webhooks; each provider's own verification stands in for the API key.
    app.include_router(webhooks.router)
    # Public: opened from an email by the customer, or POSTed by their mailbox provider.
    app.include_router(unsubscribe.router)
    # Public too: tracked links and the open pixel, opened from an email (the token is the key).
    app.include_router(tracking.router)
    # Pages for people: a login form and a session cookie stand in for the bearer key
    # (api/dashboard/auth.py); out of the OpenAPI document (api/dashboard/routes.py says why).
    app.include_router(dashboard_router)
    app.include_router(health.router)
    app.include_router(metrics_router)  # public like /healthz: counts, never ids
    if settings.dev_mail:
        app.include_router(dev_mail.router)
    openapi_doc.install(app, catalog)
    return app
