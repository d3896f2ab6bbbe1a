"""Customer profiles: the API's input schema and the snapshot journeys and templates see."""

from __future__ import annotations

from functools import cache
from typing import Any
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from journeys.contracts import json_values


# BCP 47 tags as apps send them ("en-US", "fr_CA", "zh-Hant-TW").
LOCALE_PATTERN = r"^[A-Za-z0-9]{1,8}([_-][A-Za-z0-9]{1,8}){0,4}$"


class CustomerIn(BaseModel):
    """Body of ``PUT /v1/customers/{customer_id}``."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = None
    timezone: str = Field(default="UTC", max_length=64, description="an IANA zone, e.g. 'Europe/Berlin'")
    locale: str | None = Field(default=None, max_length=35, pattern=LOCALE_PATTERN, description="e.g. 'en-US', 'fr_CA'")
    attributes: dict[str, Any] = Field(default_factory=dict, json_schema_extra=json_values.STRICT_JSON_MARK)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if not is_time_zone(value):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'Europe/Berlin')")
        return value

    @field_validator("attributes")
    @classmethod
    def _strict_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        return json_values.check(value, "attributes")

    @model_validator(mode="after")
    def _fits_temporal(self) -> "CustomerIn":
        # The profile travels in every journey's start input (a snapshot at entry).
        json_values.check_size(self, "the profile")
        return self


class Customer(BaseModel):
    """A customer as journeys, templates and the API read it."""

    id: str
    email: str | None = None
    timezone: str = "UTC"
    locale: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, json_schema_extra=json_values.STRICT_JSON_MARK)


@cache
def time_zones() -> frozenset[str]:
    # The IANA names tzdata ships; not "localtime" (this machine's zone, whatever it is).
    return frozenset(available_timezones()) - {"localtime"}


def is_time_zone(name: str) -> bool:
    """An IANA zone name such as 'Europe/Berlin' (a file name or path is not one)."""
    return name in time_zones()
