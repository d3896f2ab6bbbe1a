"""How a journey is declared: the ``@journey`` decorator, its spec and its workflow ids.

Imported by journey modules (inside Temporal's sandbox) and by the registry and dispatch
(outside it), so it holds no I/O and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core.journey_models import JourneyInput, JourneyResult

if TYPE_CHECKING:
    from workflows.engine import Journey

Reentry = Literal["never", "after_exit", "always"]


def workflow_id(journey_name: str, customer_id: str, key: str | None = None) -> str:
    """Deterministic, from business keys: a second trigger finds the running journey.

    Keyed journeys (``reentry="always"``) run once per key value, e.g. per cart.
    """
    base = f"journey:{journey_name}:{customer_id}"
    return f"{base}:{key}" if key is not None else base


@dataclass(frozen=True)
class JourneySpec:
    """What a journey declares; dispatch reads it to route events (core/dispatch.py)."""

    name: str
    triggers: frozenset[str]
    exit_on: frozenset[str]
    listens_to: frozenset[str]  # declared extra event types that wait_for consumes
    reentry: Reentry
    cls: type["Journey"]
    key: str | None = None  # with reentry="always": the trigger property that names a run

    @property
    def listened(self) -> frozenset[str]:
        """Every event type this journey must receive once it runs."""
        return self.exit_on | self.listens_to


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _as_set(value: str | Iterable[str]) -> frozenset[str]:
    return frozenset([value]) if isinstance(value, str) else frozenset(value)


def journey(
    *,
    trigger: str | Iterable[str],
    exit_on: str | Iterable[str] = (),
    listens_to: str | Iterable[str] = (),
    reentry: Reentry = "after_exit",
    key: str | None = None,
    name: str | None = None,
) -> Callable[[type["Journey"]], type["Journey"]]:
    """Declare a journey: the event(s) that start it, the events that end it, its name.

    ``reentry``: ``"after_exit"`` (default) lets a customer enter again once the journey
    ended; ``"never"`` enters each customer once, ever (kept in the database, so it holds
    after Temporal forgot the old run); ``"always"`` runs one journey per value of the
    trigger's ``key`` property (e.g. ``key="cart_id"``), side by side.

    ``listens_to`` lists event types ``wait_for`` waits on; types passed to ``wait_for``
    as string literals are found in the source by the registry, so most journeys need not
    declare any.
    """
    triggers = _as_set(trigger)
    if not triggers:
        raise ValueError("a journey needs at least one trigger event type")
    if reentry not in ("never", "after_exit", "always"):
        raise ValueError(f"reentry={reentry!r}: use 'never', 'after_exit' or 'always'")
    if (reentry == "always") != (key is not None):
        raise ValueError("reentry='always' needs key='<property>' (e.g. key='cart_id'), and key needs reentry='always'")

    def wrap(cls: type[Journey]) -> type[Journey]:
        journey_name = name or _snake_case(cls.__name__)
        cls.spec = JourneySpec(
            name=journey_name,
            triggers=triggers,
            exit_on=_as_set(exit_on),
            listens_to=_as_set(listens_to),
            reentry=reentry,
            cls=cls,
            key=key,
        )

        # Temporal wants @workflow.run defined on the workflow class itself, so each
        # journey gets its own small run method that calls the engine.
        async def run(self, input: JourneyInput) -> JourneyResult:  # type: ignore[no-untyped-def]
            return await self._run(input)

        run.__name__ = "run"
        run.__qualname__ = f"{cls.__name__}.run"
        run.__module__ = cls.__module__
        # Real classes, not strings: the SDK reads them to decode the input.
        run.__annotations__ = {"input": JourneyInput, "return": JourneyResult}
        setattr(cls, "run", workflow.run(run))
        return workflow.defn(name=journey_name)(cls)

    return wrap
