"""What a journey carries into its next run when it continues-as-new, kept bounded.

A journey that loops for years hands over again and again; whatever it carries must not
grow with its age, or its start input would one day pass Temporal's payload limit:

* **event ids already seen** (so a redelivered event counts once): the newest
  ``MAX_CARRIED_SEEN``. Dispatch redelivers an event only while its outbox row is still
  pending, seconds or minutes after the first delivery, never thousands of events later;
* **events in the inbox no wait has taken**: the newest ``MAX_CARRIED_INBOX``, and no more
  than ``MAX_CARRIED_INBOX_BYTES`` of them; older ones are dropped, with a warning in the
  workflow's log;
* **templates sent**, listed in the journey's state and result: the newest ``MAX_CARRIED_SENT``;
* and the whole input under ``MAX_INPUT_BYTES``: past it, ``self.state`` is what grew,
  and the journey fails with that said, instead of failing every hand-over.

Runs inside Temporal's sandbox.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from journeys.contracts.events import Event
    from journeys.contracts.journey_io import JourneyInput
    from journeys.contracts.json_values import encoded_size

MAX_CARRIED_SEEN = 2_000
MAX_CARRIED_INBOX = 200
MAX_CARRIED_INBOX_BYTES = 512 * 1024
MAX_CARRIED_SENT = 500
MAX_INPUT_BYTES = 1_500_000  # Temporal refuses payloads over 2 MB


def seen_to_carry(seen_in_arrival_order: list[str]) -> list[str]:
    return seen_in_arrival_order[-MAX_CARRIED_SEEN:]


def sent_to_carry(sent: list[str]) -> list[str]:
    return sent[-MAX_CARRIED_SENT:]


def inbox_to_carry(journey: str, events: list[Event]) -> list[Event]:
    """The newest events, within the count and the size allowed (arrival order kept)."""
    kept: list[Event] = []
    size = 0
    for event in reversed(events[-MAX_CARRIED_INBOX:]):
        size += encoded_size(event)
        if size > MAX_CARRIED_INBOX_BYTES:
            break
        kept.append(event)
    kept.reverse()
    if len(kept) < len(events):
        workflow.logger.warning(
            "journey %s: %d events no wait took are dropped at continue-as-new (the newest %d are kept)",
            journey,
            len(events) - len(kept),
            len(kept),
        )
    return kept


def check_size(input: JourneyInput) -> None:
    size = encoded_size(input)
    if size > MAX_INPUT_BYTES:
        raise ApplicationError(
            f"journey {input.journey} cannot continue as new: its state is {size:,} bytes encoded "
            f"(at most {MAX_INPUT_BYTES:,}); keep self.state small",
            type="JourneyStateTooLarge",
            non_retryable=True,
        )
