"""The metric definitions: named by Prometheus's rules, timed right, backlog gauges as read."""

from __future__ import annotations

import time

import pytest

from journeys.telemetry import metrics
from tests.journeys.telemetry.scrape import Scrape, naming_problems

EXPECTED = {
    "journeys_http_requests": "counter",
    "journeys_http_request_duration_seconds": "histogram",
    "journeys_ingest_duration_seconds": "histogram",
    "journeys_events_accepted": "counter",
    "journeys_events_duplicate": "counter",
    "journeys_dispatched": "counter",
    "journeys_sends": "counter",
    "journeys_policy_decisions": "counter",
    "journeys_render_duration_seconds": "histogram",
    "journeys_esp_request_duration_seconds": "histogram",
    "journeys_gc_pause_seconds": "histogram",
    "journeys_outbox_depth": "gauge",
    "journeys_dispatch_lag_seconds": "gauge",
    "journeys_dead_letters": "gauge",
}


def test_every_family_is_there_and_named_by_the_conventions() -> None:
    scrape = Scrape(metrics.exposition(metrics.backlog_families(2, 1.5, {"event": 1})).decode())
    # (the parser names a counter's family without its _total; its samples carry it)
    assert scrape.types() == EXPECTED
    assert naming_problems(scrape, "journeys_") == []
    assert not any(name.endswith("_created") for name in scrape.families), "no *_created series"


def test_fixed_label_values_start_at_zero() -> None:
    scrape = Scrape(metrics.exposition().decode())
    for source in ("api", "segment", "webhook"):
        assert any(s.name == "journeys_events_accepted_total" and s.labels == {"source": source} for s in scrape.samples)
    assert {s.labels["how"] for s in scrape.samples if s.name == "journeys_dispatched_total"} == {"start", "signal", "refused", "retried"}
    reasons = {s.labels["reason"] for s in scrape.samples if s.name == "journeys_policy_decisions_total"}
    assert reasons == {"allowed", "skipped", "suppressed", "unsubscribed", "deferred", "capped"}


def test_backlog_gauges_say_what_was_read() -> None:
    scrape = Scrape(metrics.exposition(metrics.backlog_families(7, 42.5, {"message": 3})).decode())
    assert scrape.value("journeys_outbox_depth") == 7
    assert scrape.value("journeys_dispatch_lag_seconds") == 42.5
    assert scrape.value("journeys_dead_letters", kind="event") == 0  # a kind with none is 0, not absent
    assert scrape.value("journeys_dead_letters", kind="message") == 3


def test_timed_observes_the_block_in_seconds_even_when_it_raises() -> None:
    def count_and_sum(esp: str) -> tuple[float, float]:
        scrape = Scrape(metrics.exposition().decode())
        return (
            scrape.value("journeys_esp_request_duration_seconds_count", esp=esp),
            scrape.value("journeys_esp_request_duration_seconds_sum", esp=esp),
        )

    before = count_and_sum("test-esp")
    with metrics.timed(metrics.ESP_REQUEST_DURATION, esp="test-esp"):
        time.sleep(0.05)  # the thing timed, not a wait for anything
    with pytest.raises(ValueError), metrics.timed(metrics.ESP_REQUEST_DURATION, esp="test-esp"):
        raise ValueError("the ESP did not answer")
    count, total = count_and_sum("test-esp")
    assert count - before[0] == 2
    assert 0.05 <= total - before[1] < 5, "seconds, not milliseconds"


def test_count_intake_counts_by_source() -> None:
    def seen() -> tuple[float, float]:
        scrape = Scrape(metrics.exposition().decode())
        return scrape.value("journeys_events_accepted_total", source="webhook"), scrape.value("journeys_events_duplicate_total", source="webhook")

    accepted, duplicates = seen()
    metrics.count_intake("webhook", 3, 1)
    assert seen() == (accepted + 3, duplicates + 1)
