"""A journey's inbox: every event it received, once each, until a wait consumes it.

``wait_for`` takes from here, so an event that arrived before the wait began is never
missed; events that match no wait stay. Runs inside Temporal's workflow sandbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from journeys.contracts.events import Event

# What narrows a wait: a dict of property values, or a function of the event.
Where = dict[str, Any] | Callable[[Event], bool] | None
Matcher = Callable[[Event], bool]


def matcher(where: Where) -> Matcher:
    if where is None:
        return lambda _: True
    if callable(where):
        return where
    expected = dict(where)
    return lambda event: all(event.properties.get(k) == v for k, v in expected.items())


def _any(_: Event) -> bool:
    return True


class Inbox:
    def __init__(self) -> None:
        self.events: list[Event] = []
        # The ids of the events this journey received, in arrival order (continue-as-new
        # carries the newest): dispatch may deliver an event more than once (relay
        # retries), and each counts once.
        self.seen: dict[str, None] = {}
        self.received = 0  # distinct events received, in every run so far

    def first_time(self, event: Event) -> bool:
        """Record the event's id; False if it was received before."""
        if event.id in self.seen:
            return False
        self.seen[event.id] = None
        self.received += 1
        return True

    def add(self, event: Event) -> None:
        self.events.append(event)

    def peek(self, types: Iterable[str], matches: Matcher = _any) -> Event | None:
        wanted = types if isinstance(types, (set, frozenset)) else frozenset(types)
        return next((e for e in self.events if e.type in wanted and matches(e)), None)

    def take(self, types: Iterable[str], matches: Matcher = _any) -> Event | None:
        event = self.peek(types, matches)
        if event is not None:
            self.events.remove(event)
        return event

    def take_trigger(self, triggers: frozenset[str]) -> tuple[Event, list[Event]]:
        """The first trigger event, and the events that arrived after it (still in the inbox)."""
        trigger = self.peek(triggers)
        assert trigger is not None
        position = self.events.index(trigger)
        self.events.remove(trigger)
        return trigger, self.events[position:]

    def resume(self, carried_events: list[Event], carried_seen: list[str], carried_received: int | None) -> list[Event]:
        """Take over a previous run's inbox; returns the events that reached this run before
        its first task and were not seen by the previous one."""
        seen_before = set(carried_seen)
        arrived = [e for e in self.events if e.id not in seen_before]
        new_here = sum(1 for event_id in self.seen if event_id not in seen_before)
        self.events = list(carried_events) + arrived
        self.seen = {**dict.fromkeys(carried_seen), **self.seen}
        self.received = (len(carried_seen) if carried_received is None else carried_received) + new_here
        return arrived
