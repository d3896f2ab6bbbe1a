"""Customer profiles: the API's input schema and the snapshot journeys and templates see."""

from __future__ import annotations

from typing import Any
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator


class CustomerIn(BaseModel):
    """Body of ``PUT /v1/customers/{customer_id}``."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = None
    timezone: str = "UTC"
    locale: str | None = Field(default=None, max_length=35)
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if not is_time_zone(value):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'Europe/Berlin')")
        return value


class Customer(BaseModel):
    """A customer as journeys, templates and the API read it."""

    id: str
    email: str | None = None
    timezone: str = "UTC"
    locale: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


@lru_cache(maxsize=1024)
def is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
