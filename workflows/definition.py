"""How a journey is declared: the ``@journey`` decorator, which attaches its spec
(journeys/contracts/journey_spec.py) and makes the class a Temporal workflow.

Imported by journey modules, inside Temporal's sandbox: no I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from journeys.contracts.journey_io import JourneyInput, JourneyResult
    from journeys.contracts.journey_spec import JourneySpec, Reentry, workflow_id

if TYPE_CHECKING:
    from workflows.engine import Journey

__all__ = ["JourneySpec", "Reentry", "journey", "workflow_id"]


NAME = re.compile(r"[A-Za-z0-9_.\-]{1,100}")


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
        if not NAME.fullmatch(journey_name):
            # It goes into workflow ids, search queries and URLs, unquoted.
            raise ValueError(f"journey name {journey_name!r}: 1 to 100 letters, digits, '_', '-' or '.'")
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
