"""Which engine behaviours a journey run has: from its input, not from patch markers.

``workflow.patched(id)`` records a marker and upserts the ``TemporalChangeVersion`` search
attribute in every new run: two history events and a visibility write per patch per
customer, each time, forever. A run started at engine version 1 or later (its
``JourneyInput.engine``, set by the dispatcher and by continue-as-new) has every behaviour
those patches guard, so it asks for none. Runs started before the field follow the
markers in their own history, as they always did. Runs inside Temporal's sandbox.
"""

from __future__ import annotations

from temporalio import workflow


def since(patch_id: str, engine: int) -> bool:
    """True if this run has the behaviour that came with ``patch_id`` (all of them since engine 1)."""
    return engine >= 1 or workflow.patched(patch_id)
