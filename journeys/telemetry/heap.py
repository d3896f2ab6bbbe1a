"""The garbage collector's full passes: kept short, and measured.

A full collection walks every object the process holds, and the API and worker hold a
great many that live as long as the process (modules, classes, the Temporal SDK, SQLAlchemy's
caches, pydantic's validators): on the 2-core development machine a full pass took
50-90 ms, and every request or send in flight waited for it (the benchmark's latency p99).
``settle_heap`` is called once a process has started: what exists then is moved out of
the collector's sight (``gc.freeze``), so later passes walk only what came after.

Every pass of the oldest generation is timed into ``journeys_gc_pause_seconds``.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from journeys.telemetry import metrics

_started: list[float] = []


def _time_full_passes(phase: str, info: dict[str, Any]) -> None:
    if info.get("generation") != 2:
        return
    if phase == "start":
        _started[:] = [time.perf_counter()]
    elif _started:
        metrics.GC_PAUSE.observe(time.perf_counter() - _started.pop())


def settle_heap() -> None:
    """Collect once, then freeze what the started process holds (idempotent)."""
    gc.collect()
    gc.freeze()
    if _time_full_passes not in gc.callbacks:
        gc.callbacks.append(_time_full_passes)
