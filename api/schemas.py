"""Response bodies of the API that are not domain models themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from journeys.storage.tables import MessageRow


class MessageOut(BaseModel):
    """One send and what became of it. ``reason`` says why for anything but sent;
    ``history`` lists every decision on the way (deferred, sending, sent, ...)."""

    id: str
    template: str
    category: str | None
    topic: str | None
    subject: str | None
    to_email: str | None
    status: str
    reason: str | None
    deferred_until: datetime | None
    history: list[dict[str, Any]]
    esp: str | None
    esp_message_id: str | None
    journey: str | None
    step: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    # A test send (POST /v1/templates/{name}/test-send): not counted anywhere, never a dead letter.
    test: bool = False

    @classmethod
    def from_row(cls, row: MessageRow) -> "MessageOut":
        return cls.model_validate(row, from_attributes=True)
