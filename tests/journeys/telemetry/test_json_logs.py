"""JOURNEYS_LOG_FORMAT=json: one JSON object a line, with the ids of the work, masked."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from journeys.storage.logs import JsonLines, NoAddresses, StampIds
from journeys.telemetry import log_context


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the handler configure() builds in JSON mode."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(NoAddresses())
    handler.addFilter(StampIds(log_context.current))
    handler.setFormatter(JsonLines())
    logger = logging.getLogger("journeys.test_json_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, out
    finally:
        logger.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_carries_time_level_logger_message_and_the_bound_ids(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = json_log
    with log_context.bound(workflow_id="journey:welcome:ann", message_id="3f2a", customer_id="ann"):
        log.info("sent %s to customer %s", "welcome", "ann")
    log.warning("no ids here")
    first, second = lines(out)
    assert first["message"] == "sent welcome to customer ann"
    assert (first["level"], first["logger"]) == ("INFO", "journeys.test_json_logs")
    assert (first["workflow_id"], first["message_id"], first["customer_id"]) == ("journey:welcome:ann", "3f2a", "ann")
    assert "event_id" not in first, "only the ids that are known"
    moment = datetime.fromisoformat(str(first["time"]))
    assert moment.tzinfo is not None and moment.utcoffset() == timezone.utc.utcoffset(None)
    assert str(first["time"]).endswith("Z")
    assert set(second) == {"time", "level", "logger", "message"}


def test_every_field_is_masked_not_only_the_message(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = json_log
    # A client may well use the address as its customer id, and so in the workflow id.
    with log_context.bound(customer_id="ann@example.com", workflow_id="journey:welcome:ann@example.com"):
        try:
            raise ValueError("550 no such user bob@example.com")
        except ValueError:
            log.exception("refused for %s", "ann@example.com")
    [line] = lines(out)
    assert "@example.com" not in out.getvalue()
    assert line["customer_id"] == "<address>" and line["workflow_id"] == "journey:welcome:<address>"
    assert "ValueError: 550 no such user <address>" in str(line["exception"])


def test_temporals_workflow_logger_extras_give_the_workflow_id(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    """workflow.logger (and activity.logger) attach the run as an extra; a real worker's
    lines are checked in test_stack_metrics.py."""
    log, out = json_log
    log.info("journey welcome entered", extra={"temporal_workflow": {"workflow_id": "journey:welcome:cat", "run_id": "r1"}})
    log.info("activity line", extra={"temporal_activity": {"workflow_id": "journey:welcome:dan", "activity_id": "1"}})
    assert [line["workflow_id"] for line in lines(out)] == ["journey:welcome:cat", "journey:welcome:dan"]


def test_configure_json_writes_json_lines_to_stderr() -> None:
    script = (
        "import logging, warnings; from journeys.storage import logs; from journeys.telemetry import log_context;"
        "logs.configure(log_format='json', context=log_context.current);"
        "log = logging.getLogger('journeys.deliver');"
        "\nwith log_context.bound(event_id='e-1'):\n    log.info('sent welcome to %s', 'ann@example.com')"
        "\nwarnings.warn('a library complains')"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    parsed = [json.loads(line) for line in result.stderr.splitlines()]
    assert parsed[0]["message"] == "sent welcome to <address>" and parsed[0]["event_id"] == "e-1"
    assert parsed[1]["logger"] == "py.warnings" and "a library complains" in str(parsed[1]["message"])


def test_text_stays_the_default() -> None:
    script = "import logging; from journeys.storage import logs; logs.configure(); logging.getLogger('journeys.x').info('hello')"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert result.stderr.rstrip().endswith("INFO    journeys.x: hello") and not result.stderr.startswith("{")
