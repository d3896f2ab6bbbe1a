"""Every metric Journeys exports, in one registry per process (README, "Metrics and logs").

Names follow Prometheus's conventions: the ``journeys_`` prefix, ``_total`` on counters,
``_seconds`` on durations (base units), and labels whose values come from short lists
known in advance (route templates, sources, ESPs, journey names, statuses). Never a
customer id, message id or raw path: each would make a series per customer, and the
Prometheus server holds every series in memory.

The API serves the registry at ``GET /metrics`` and the worker on
``JOURNEYS_WORKER_METRICS_PORT``. Each process counts what it does itself; the families of
the other are there too, at zero or without samples.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Literal

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# The *_created series (a gauge per counter and histogram, the time it was created) double
# what Prometheus stores and break the naming rules above; nobody here reads them.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)

Source = Literal["api", "segment", "webhook"]
SOURCES: tuple[Source, ...] = ("api", "segment", "webhook")
HOW = ("start", "signal", "refused", "retried")
# What the send policy (journeys/consent/policy.py, applied by activities/deliver.py) said.
DECISIONS = ("allowed", "skipped", "suppressed", "unsubscribed", "deferred", "capped")
DEAD_LETTER_KINDS = ("event", "message")

# Rendering is in-process Jinja2: milliseconds, so the default buckets (5 ms to 10 s) would
# put nearly everything in the first one.
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

# ----- API ---------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "journeys_http_requests_total",
    "HTTP requests answered, by route template (unmatched paths: other), method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "journeys_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template and method.",
    ["route", "method"],
    registry=REGISTRY,
)
INGEST_DURATION = Histogram(
    "journeys_ingest_duration_seconds",
    "Time to store a request's events with their outbox rows (one transaction), before the answer.",
    registry=REGISTRY,
)
EVENTS_ACCEPTED = Counter(
    "journeys_events_accepted_total",
    "Events stored, by where they came from (api: POST /v1/events, segment, webhook: ESP feedback).",
    ["source"],
    registry=REGISTRY,
)
EVENTS_DUPLICATE = Counter(
    "journeys_events_duplicate_total",
    "Events whose id was seen before: not stored again, nothing follows from them.",
    ["source"],
    registry=REGISTRY,
)
DISPATCHED = Counter(
    "journeys_dispatched_total",
    "Hand-overs to Temporal: start (signal-with-start reached a run), signal (a running journey), "
    "refused (Temporal refused the event), retried (it failed otherwise and waits for a retry).",
    ["how"],
    registry=REGISTRY,
)

# ----- worker ------------------------------------------------------------------------------

SENDS = Counter(
    "journeys_sends_total",
    "What handing a message to an ESP came to: sent, failed, unknown, retrying or cancelled.",
    ["esp", "journey", "status"],
    registry=REGISTRY,
)
POLICY_DECISIONS = Counter(
    "journeys_policy_decisions_total",
    "The send policy's answer for each delivery attempt: allowed, or why not.",
    ["reason"],
    registry=REGISTRY,
)
GC_PAUSE = Histogram(
    "journeys_gc_pause_seconds",
    "Full passes of Python's garbage collector (every request and send waits meanwhile); journeys/telemetry/heap.py",
    buckets=FAST_BUCKETS,
    registry=REGISTRY,
)
RENDER_DURATION = Histogram(
    "journeys_render_duration_seconds",
    "Time to render one email (subject, text, HTML, and the marketing footer).",
    buckets=FAST_BUCKETS,
    registry=REGISTRY,
)
ESP_REQUEST_DURATION = Histogram(
    "journeys_esp_request_duration_seconds",
    "Time one call to an ESP took, answered or failed.",
    ["esp"],
    registry=REGISTRY,
)

# Fixed label values start at 0, so a rate() or an alert sees the series before the first event.
for _source in SOURCES:
    EVENTS_ACCEPTED.labels(source=_source)
    EVENTS_DUPLICATE.labels(source=_source)
for _how in HOW:
    DISPATCHED.labels(how=_how)
for _reason in DECISIONS:
    POLICY_DECISIONS.labels(reason=_reason)


def count_intake(source: Source, accepted: int, duplicates: int) -> None:
    EVENTS_ACCEPTED.labels(source=source).inc(accepted)
    EVENTS_DUPLICATE.labels(source=source).inc(duplicates)


@contextmanager
def timed(histogram: Histogram, **labels: str) -> Iterator[None]:
    """Observe how long the block took, whether it returned or raised."""
    started = time.perf_counter()
    try:
        yield
    finally:
        (histogram.labels(**labels) if labels else histogram).observe(time.perf_counter() - started)


def backlog_families(depth: int, lag_seconds: float, dead_letters: Mapping[str, int]) -> list[Metric]:
    """The gauges read from the database when the API is scraped (api/routes/metrics.py):
    they describe the whole installation, not this process, so every API process reports
    the same values (use max(), not sum(), across them)."""
    outbox = GaugeMetricFamily("journeys_outbox_depth", "Events stored and not yet handed to Temporal.", value=depth)
    lag = GaugeMetricFamily(
        "journeys_dispatch_lag_seconds", "Age of the oldest event waiting for Temporal; 0 when none waits.", value=lag_seconds
    )
    dead = GaugeMetricFamily(
        "journeys_dead_letters", "Dead letters waiting for an operator (GET /v1/dead-letters), by kind.", labels=["kind"]
    )
    for kind in DEAD_LETTER_KINDS:
        dead.add_metric([kind], dead_letters.get(kind, 0))
    return [outbox, lag, dead]


class _Fixed(Collector):
    """Families computed elsewhere, in the shape generate_latest wants."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def exposition(extra: Sequence[Metric] = ()) -> bytes:
    """The registry in Prometheus's text format, followed by ``extra`` families."""
    return generate_latest(REGISTRY) + (generate_latest(_Fixed(extra)) if extra else b"")


# The exposition format generate_latest writes (the Content-Type of GET /metrics).
CONTENT_TYPE = CONTENT_TYPE_LATEST
