"""Why a hand-over to Temporal failed, and what follows: retry later, or set it aside.

Two kinds of failure, and the rule (README, "Design notes"):

* **Temporal is away or busy** (connection refused, UNAVAILABLE, DEADLINE_EXCEEDED, a
  rejected API key, ...): the event waits and is retried with backoff for as long as it
  takes. Delayed, never lost, and never a dead letter: nothing is wrong with the event.
* **Temporal refuses this event** (INVALID_ARGUMENT such as a payload over its size limit,
  a value that cannot be encoded): retrying cannot cure it. After ``max_attempts`` such
  failures the event is a dead letter: it stops holding back the customer's later events,
  and an operator can retry or discard it (``GET /v1/dead-letters``).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.service import RPCError, RPCStatusCode

# Codes that say "not now" rather than "not this". UNKNOWN and INTERNAL are ambiguous and
# so count as "not now": an event is only ever set aside when Temporal said what is wrong.
_NOT_NOW = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,
    RPCStatusCode.INTERNAL,
    RPCStatusCode.UNAUTHENTICATED,
    RPCStatusCode.PERMISSION_DENIED,
    RPCStatusCode.NOT_FOUND,  # the namespace (a signal to a finished journey is not an error)
}

MAX_BACKOFF = timedelta(seconds=60)


def temporal_is_away(exc: BaseException) -> bool:
    """True when the failure says nothing about the event: retry it, however long it takes."""
    if isinstance(exc, RPCError):
        return exc.status in _NOT_NOW
    if isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError)):
        return True
    # The SDK's lazy client says "Failed client connect: ..." while Temporal is down.
    return isinstance(exc, RuntimeError) and "connect" in str(exc).lower()


def backoff(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s, ... at most a minute."""
    return min(MAX_BACKOFF, timedelta(seconds=2 ** max(0, attempts - 1)))


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 2000 else text[:1999] + "…"
