"""What a started process holds is out of the garbage collector's full passes, and every
full pass is timed into journeys_gc_pause_seconds."""

from __future__ import annotations

import gc

from journeys.telemetry import heap, metrics
from tests.journeys.telemetry.scrape import Scrape


def _full_passes() -> float:
    return Scrape(metrics.exposition().decode()).value("journeys_gc_pause_seconds_count")


def test_settling_freezes_what_exists_and_times_each_full_pass_after() -> None:
    held = [object() for _ in range(10)]
    try:
        heap.settle_heap()
        assert gc.get_freeze_count() >= len(held), "what the process held is frozen"
        before = _full_passes()
        gc.collect()
        assert _full_passes() >= before + 1
        heap.settle_heap()  # twice (the API restarted in one process): still one timer
        assert gc.callbacks.count(heap._time_full_passes) == 1
    finally:
        gc.unfreeze()
