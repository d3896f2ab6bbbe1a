"""How every Journeys process logs: one format, and no email address in any line.

Erasure promises that nothing naming the person stays; logs are kept elsewhere and for
longer, so they carry customer and message ids, never addresses. Code logs ids; this
filter also masks any address that reaches a line anyway (an ESP's refusal quoting the
recipient, a library's message).

Two formats (``JOURNEYS_LOG_FORMAT``): text for a terminal, and JSON lines for a log store:
one object a line with ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message`` and,
where known, ``event_id``, ``workflow_id``, ``message_id`` and ``customer_id``. The ids
come from the caller's ``context`` (journeys/telemetry/log_context.py, handed in by the
entry points, as this layer may not import it) and from the extras Temporal's workflow
and activity loggers attach. Every value of a JSON line is masked, not only the message:
a customer id, and so a workflow id, may well be an email address.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Literal

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def mask_addresses(text: str) -> str:
    return _ADDRESS.sub("<address>", text)


class NoAddresses(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_addresses(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_addresses(logging.Formatter().formatException(record.exc_info))
        return True


IdsOfTheWork = Callable[[], Mapping[str, str]]
ID_FIELDS = ("event_id", "workflow_id", "message_id", "customer_id")


class StampIds(logging.Filter):
    """Copies the ids of the work at hand onto the record when it is made (in the thread
    and task that logs it: a contextvar read later, by another thread, would be empty)."""

    def __init__(self, context: IdsOfTheWork) -> None:
        super().__init__()
        self.context = context

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "journeys_ids"):
            setattr(record, "journeys_ids", dict(self.context()))
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Temporal's loggers (workflow.logger, activity.logger) attach the run they log for.
        temporal = getattr(record, "temporal_workflow", None) or getattr(record, "temporal_activity", None) or {}
        ids = {"workflow_id": temporal.get("workflow_id"), **getattr(record, "journeys_ids", {})}
        line.update((name, str(ids[name])) for name in ID_FIELDS if ids.get(name))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps({k: mask_addresses(v) if isinstance(v, str) else v for k, v in line.items()}, ensure_ascii=False)


def configure(
    verbose: bool = False, *, log_format: Literal["text", "json"] = "text", context: IdsOfTheWork | None = None
) -> None:
    """``context``: the ids of the work at hand, written as fields of JSON lines."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=FORMAT)
    for handler in logging.getLogger().handlers:
        handler.addFilter(NoAddresses())
        if log_format == "json":
            if context is not None:
                handler.addFilter(StampIds(context))
            handler.setFormatter(JsonLines())
    if log_format == "json":
        logging.captureWarnings(True)  # warnings.warn would write a bare line to stderr
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    logging.getLogger("temporalio").setLevel(logging.WARNING)
    # ...but the engine's own lines (a journey entered, exited, continued as new) are worth
    # reading: workflow.logger, which adds the workflow id (and skips replays).
    logging.getLogger("temporalio.workflow").setLevel(logging.INFO)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: one line per connection
