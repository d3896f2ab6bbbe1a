"""What goes in and out of a journey workflow: start input, result and the state query."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from journeys.contracts.customers import Customer
from journeys.contracts.events import Event

SIGNAL_EVENT = "event"
QUERY_STATE = "state"
# The engine's own event, sent to every journey running under an id that turned out to be
# another id of a known customer (journeys/customers/identity.py): the journey carries on as them.
MERGED_EVENT = "journeys.customer_merged"


class Carried(BaseModel):
    """What a journey takes into its next run when it continues-as-new."""

    trigger: Event
    inbox: list[Event] = Field(default_factory=list)
    seen_ids: list[str] = Field(default_factory=list)  # the newest ids seen (workflows/handover.py)
    received: int | None = None  # events received in all runs so far (None: before it was kept)
    send_counts: dict[str, int] = Field(default_factory=dict)
    sent: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    runs: int = 1
    variants: dict[str, str] = Field(default_factory=dict)
    goals: dict[str, bool] = Field(default_factory=dict)
    converted: list[str] = Field(default_factory=list)


# The newest engine version this code has: a run started at it has every engine behaviour
# without a patch marker (workflows/versions.py). The dispatcher stamps new runs with
# JOURNEYS_ENGINE_VERSION (default: this), which a rolling upgrade holds lower until every
# worker runs this code.
ENGINE_VERSION = 2


class JourneyInput(BaseModel):
    journey: str
    customer_id: str
    # The profile as dispatch found it, so a journey starts without a lookup; None if
    # the customer is not known yet. ``await self.refresh()`` reloads it.
    customer: Customer | None = None
    key: str | None = None  # keyed journeys (reentry="always"): this run's key value
    carried: Carried | None = None  # set when the journey continued-as-new
    # The engine behaviours this run was started with (workflows/versions.py): 0 for runs
    # started before the field, which follow the patch markers in their history instead.
    engine: int = 0


class JourneyResult(BaseModel):
    outcome: Literal["completed", "exited"]
    exit_event_type: str | None = None
    sent: list[str] = Field(default_factory=list)


class JourneyState(BaseModel):
    journey: str
    customer_id: str
    step: str
    waiting_for: list[str] = Field(default_factory=list)
    until: datetime | None = None
    events_received: int = 0
    busy: bool = False
    finished: bool = False
    sent: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)  # the journey's own self.state
    runs: int = 1  # how many Temporal runs, continue-as-new included
    variants: dict[str, str] = Field(default_factory=dict)  # split name -> variant
    converted: list[str] = Field(default_factory=list)  # goals reached
