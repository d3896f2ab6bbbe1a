"""What a journey declares, as the services outside the sandbox read it: its spec, its
workflow ids, and the routes of event types to journeys (``JourneyRoutes``).

The registry (workflows/registry.py) builds these from the journey classes; dispatch
and operator actions read them through ``JourneyRoutes`` and never import journey code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Reentry = Literal["never", "after_exit", "always"]
MAX_WORKFLOW_ID_BYTES = 1000  # Temporal's limit


def workflow_id(journey_name: str, customer_id: str, key: str | None = None) -> str:
    """Deterministic, from business keys: a second trigger finds the running journey.

    Keyed journeys (``reentry="always"``) run once per key value, e.g. per cart.
    """
    full = f"journey:{journey_name}:{customer_id}" + (f":{key}" if key is not None else "")
    if _bytes(full) <= MAX_WORKFLOW_ID_BYTES:
        return full
    # Ids so long (in UTF-8) that the workflow id would not fit Temporal's limit: their
    # hashes stand for them. Only such ids are affected; every other id reads as it is.
    customer = customer_id if _bytes(customer_id) <= 400 else _hash(customer_id)
    base = f"journey:{journey_name}:{customer}"
    if key is None:
        return base
    return f"{base}:{key}" if _bytes(base) + 1 + _bytes(key) <= MAX_WORKFLOW_ID_BYTES else f"{base}:{_hash(key)}"


MAX_ENTRY_KEY = 200


def entry_key(key: str | None) -> str:
    """The run key as the journey_entries table keeps it: "" for none, a hash for a key
    longer than the column (a key is whatever an event's property held)."""
    if key is None:
        return ""
    return key if len(key) <= MAX_ENTRY_KEY else _hash(key)


def _bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _hash(text: str) -> str:
    return "h-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


@dataclass(frozen=True)
class JourneySpec:
    """What a journey declares (``@journey``); dispatch reads it to route events."""

    name: str
    triggers: frozenset[str]
    exit_on: frozenset[str]
    listens_to: frozenset[str]  # declared extra event types that wait_for consumes
    reentry: Reentry
    cls: type[Any]  # the Journey subclass (workflows/engine.py); only the worker runs it
    key: str | None = None  # with reentry="always": the trigger property that names a run

    @property
    def listened(self) -> frozenset[str]:
        """Every event type this journey must receive once it runs."""
        return self.exit_on | self.listens_to

    def key_of(self, properties: Mapping[str, Any]) -> str | None:
        """The run key (reentry="always") an event's properties carry, if any."""
        if self.key is None:
            return None
        value = properties.get(self.key)
        return None if value is None or str(value) == "" else str(value)


@dataclass(frozen=True)
class Route:
    """What one event type means: journeys it starts, and running journeys it must reach."""

    starts: tuple[JourneySpec, ...] = ()
    signals: tuple[JourneySpec, ...] = ()


class JourneyRoutes(Protocol):
    """The journeys a process knows and where each event type goes (workflows.registry.Registry)."""

    @property
    def journeys(self) -> Mapping[str, JourneySpec]: ...

    def route(self, event_type: str) -> Route: ...

    def cares_about(self, event_type: str) -> bool: ...
