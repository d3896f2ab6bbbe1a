"""The garbage collector's full passes: kept short, and measured.

A full collection walks every object the process holds, and the API and worker hold a
great many that live as long as the process (modules, classes, the Temporal SDK, SQLAlchemy's
caches, pydantic's validators): on the 2-core development machine a full pass took
50-90 ms, and every request or send in flight waited for it (the benchmark's latency p99).
``settle_heap`` is called once a process has started: what exists then is moved out of
the collector's sight (``gc.freeze``), so later passes walk only what came after. Once per
process: the API's start-up calls it, and a process that starts several apps (the tests)
must not pay a full collection for each, nor freeze each one's leftovers.

Every pass of the oldest generation is timed into ``journeys_gc_pause_seconds``.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from journeys.telemetry import metrics

_started: list[float] = []
_settled = False


def _time_full_passes(phase: str, info: dict[str, Any]) -> None:
    if info.get("generation") != 2:
        return
    if phase == "start":
        _started[:] = [time.perf_counter()]
    elif _started:
        metrics.GC_PAUSE.observe(time.perf_counter() - _started.pop())


def settle_heap() -> None:
    """Collect once, then freeze what the started process holds; later calls do nothing."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
    gc.callbacks.append(_time_full_passes)
