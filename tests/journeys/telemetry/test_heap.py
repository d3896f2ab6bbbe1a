"""What a started process holds is out of the garbage collector's full passes, once per
process, and every full pass is timed into journeys_gc_pause_seconds."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from journeys.telemetry import heap, metrics
from tests.journeys.telemetry.scrape import Scrape


def _full_passes() -> float:
    return Scrape(metrics.exposition().decode()).value("journeys_gc_pause_seconds_count")


def _tracked(value: object) -> bool:
    """Whether the collector's passes still walk ``value`` (frozen objects are left out)."""
    return any(o is value for o in gc.get_objects())


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if this process had not settled yet (an earlier test's app may have)."""
    callbacks = list(gc.callbacks)
    gc.callbacks[:] = [c for c in callbacks if c is not heap._time_full_passes]
    gc.unfreeze()
    monkeypatch.setattr(heap, "_settled", False)
    yield
    gc.unfreeze()
    gc.callbacks[:] = callbacks


def test_what_the_started_process_holds_is_frozen_and_full_passes_are_timed(fresh_process: None) -> None:
    held = [["started"] for _ in range(3)]  # lists: objects the collector tracks
    assert _tracked(held[0])
    heap.settle_heap()
    assert not _tracked(held[0]), "what the process held when it settled is frozen"
    later = ["after"]
    assert _tracked(later), "what comes after is collected as usual"
    before = _full_passes()
    gc.collect()
    assert _full_passes() >= before + 1


def test_a_second_start_in_the_same_process_neither_collects_nor_freezes_again(fresh_process: None) -> None:
    heap.settle_heap()
    frozen = gc.get_freeze_count()
    later = ["a test's leftovers"]
    heap.settle_heap()  # a second app started in this process (the tests start many)
    assert _tracked(later) and gc.get_freeze_count() == frozen
    assert gc.callbacks.count(heap._time_full_passes) == 1
