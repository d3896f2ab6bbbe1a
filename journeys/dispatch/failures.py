"""Why a hand-over to Temporal failed, and what follows: retry later, or set it aside.

Two kinds of failure, and the rule (README, "Design notes"):

* **Temporal refuses this event** (INVALID_ARGUMENT such as a payload over its size limit,
  a message over gRPC's size limit, a value that cannot be encoded): retrying cannot cure
  it. After ``max_attempts`` refusals (counted apart from other failures) the event is a
  dead letter: it stops holding back the customer's later events, and an operator can
  retry or discard it (``GET /v1/dead-letters``).
* **Anything else** (Temporal away, overloaded, its namespace missing a search attribute,
  a rejected API key, the database having a moment): the event waits and is retried with
  backoff for as long as it takes. Delayed, never lost, and never a dead letter.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.service import RPCError, RPCStatusCode

# What Temporal says when it refuses this event: it will refuse it every time.
_REFUSALS = {RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.OUT_OF_RANGE}
# ...unless the message says the namespace is set up wrong: then every event is refused,
# and what is needed is a fix of the namespace, not dead letters.
_NAMESPACE_SETUP = ("search attribute", "namespace")


MAX_BACKOFF = timedelta(seconds=60)


def refused(exc: BaseException) -> bool:
    """True only when the failure is about this event: Temporal refused it (too large, not
    valid), or it cannot be encoded. Anything else (Temporal away, overloaded or
    misconfigured, the database having a moment) is retried for as long as it takes."""
    if isinstance(exc, RPCError):
        message = str(exc).lower()
        if exc.status == RPCStatusCode.RESOURCE_EXHAUSTED:  # over gRPC's message size, or overloaded
            return "larger than max" in message
        return exc.status in _REFUSALS and not any(word in message for word in _NAMESPACE_SETUP)
    return isinstance(exc, (ValueError, TypeError, UnicodeError)) or type(exc).__name__ == "PydanticSerializationError"


def temporal_is_away(exc: BaseException) -> bool:
    return not refused(exc)


def backoff(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s, ... at most a minute."""
    return min(MAX_BACKOFF, timedelta(seconds=2 ** max(0, attempts - 1)))


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 2000 else text[:1999] + "…"
