"""The ids of the work at hand, carried by a contextvar into every log line written meanwhile.

Set where the work happens: the API's intake (the request's event ids), the dispatcher
(event id, then the workflow id it reached), the delivery activity (workflow id, message
id), ESP webhooks (message ids). In JSON mode (``JOURNEYS_LOG_FORMAT=json``) each line
carries them as fields (journeys/storage/logs.py), so one email is followed from request
to ESP by grepping an id, across the API and worker processes.

A contextvar, not an argument: the lines are written deep inside services and libraries
that know nothing of ids, and asyncio copies the context into every task it starts, so
concurrent requests and activities never see each other's ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

FIELDS = ("event_id", "workflow_id", "message_id", "customer_id")
# A batch names at most this many ids in a line; a longer one ends in ",…" (its dispatch
# lines still name each event).
MAX_IDS = 100

_ids: ContextVar[Mapping[str, str]] = ContextVar("journeys_log_ids", default=MappingProxyType({}))


@contextmanager
def bound(
    *,
    event_id: str | None = None,
    workflow_id: str | None = None,
    message_id: str | None = None,
    customer_id: str | None = None,
) -> Iterator[None]:
    """These ids (those given) for every line logged inside the block; the outer ones stay
    for the fields not given, and come back when the block ends."""
    given = {"event_id": event_id, "workflow_id": workflow_id, "message_id": message_id, "customer_id": customer_id}
    token = _ids.set(MappingProxyType({**_ids.get(), **{k: v for k, v in given.items() if v}}))
    try:
        yield
    finally:
        _ids.reset(token)


def current() -> Mapping[str, str]:
    """The ids bound here and now (possibly none)."""
    return _ids.get()


def joined(ids: Iterable[str]) -> str | None:
    """Several ids as one field (a batch's events, a webhook's messages), at most MAX_IDS."""
    unique = list(dict.fromkeys(i for i in ids if i))
    if not unique:
        return None
    return ",".join(unique[:MAX_IDS]) + (",…" if len(unique) > MAX_IDS else "")


def only(ids: Iterable[str]) -> str | None:
    """The id if all are the same one (a request about one customer), else None."""
    unique = set(ids)
    return unique.pop() if len(unique) == 1 else None
