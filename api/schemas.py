"""Response bodies of the API that are not domain models themselves."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from core.tables import MessageRow


class MessageOut(BaseModel):
    id: str
    template: str
    subject: str | None
    to_email: str | None
    status: str
    reason: str | None
    esp: str | None
    esp_message_id: str | None
    journey: str | None
    step: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None

    @classmethod
    def from_row(cls, row: MessageRow) -> "MessageOut":
        return cls.model_validate(row, from_attributes=True)
