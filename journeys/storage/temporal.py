"""The one way this project connects to Temporal: same data converter for API, worker and tests."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from journeys.storage.settings import Settings

DATA_CONVERTER = pydantic_data_converter


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """``lazy``: don't fail now if Temporal is away (the API keeps accepting events)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        api_key=settings.temporal_api_key,
        tls=settings.temporal_tls or bool(settings.temporal_api_key),
        lazy=lazy,
    )
