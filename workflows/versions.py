"""Which engine behaviours a journey run has: from its input, not from patch markers.

``workflow.patched(id)`` records a marker and upserts the ``TemporalChangeVersion`` search
attribute in every new run: two history events and a visibility write per patch per
customer, each time, forever. A run carries its engine version instead
(``JourneyInput.engine``, stamped by the dispatcher from ``JOURNEYS_ENGINE_VERSION`` and
kept across continue-as-new): it has every behaviour of that version or older without a
marker. Runs started at an older version follow the markers in their own history, as they
always did. Runs inside Temporal's sandbox.

A new behaviour: give it the next version here, raise ENGINE_VERSION
(journeys/contracts/journey_io.py) to it, and call ``since(its id, engine)``. Behaviours
from version 2 on have no patch marker at all: a run started at an older version never
gets them (it replays as it ran), so no old history can hold a marker for them.
"""

from __future__ import annotations

from temporalio import workflow

# The patches (their ids are in old histories' markers), and the engine version of each.
RECORDS_RUNS = "record-runs"  # runs record their entry and outcome for analytics
SEND_CANCEL_WAITS = "send-cancel-waits"  # an exit during a send waits for its outcome
STOP_MEANS_STOP = "stop-means-stop"  # a send that outlived an exit does not carry the steps on
PATCHES = {RECORDS_RUNS: 1, SEND_CANCEL_WAITS: 1, STOP_MEANS_STOP: 1}
# Behaviours by engine version alone (no marker ever written for them).
LOCAL_FIRST_SEND = "local-first-send"  # a send's first attempt runs in the workflow task
VERSIONED = {LOCAL_FIRST_SEND: 2}


def since(patch_id: str, engine: int) -> bool:
    """True if this run has the behaviour that came with ``patch_id``."""
    if patch_id in VERSIONED:
        return engine >= VERSIONED[patch_id]
    return engine >= PATCHES[patch_id] or workflow.patched(patch_id)
