"""The one way this project connects to Temporal: same data converter for API, worker and tests."""

from __future__ import annotations

from typing import ClassVar

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter, EncodingPayloadConverter
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from journeys.contracts import search_attributes
from journeys.storage.settings import Settings



class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """temporalio's pydantic payload converter, its parts built once per process.

    The SDK makes a payload converter for every workflow run and two data converters for
    every workflow activation; pydantic's builds a serializer and an empty cache of type
    adapters each time, so every new run paid for its input's type adapter again. The
    parts hold no per-run state (the type-adapter cache is an lru_cache, safe across
    threads), so every instance takes the first one's."""

    _parts: ClassVar[tuple[EncodingPayloadConverter, ...] | None] = None

    def __init__(self) -> None:
        parts = SharedPydanticPayloadConverter._parts
        if parts is None:
            super().__init__()
            SharedPydanticPayloadConverter._parts = tuple(self.converters.values())
        else:
            self._set_converters(*parts)


DATA_CONVERTER = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)


async def connect(settings: Settings, *, lazy: bool = False, runtime: Runtime | None = None) -> Client:
    """``lazy``: don't fail now if Temporal is away (the API keeps accepting events).
    ``runtime``: the process's (journeys/telemetry/endpoints.py: SDK metrics, core logs);
    None: temporalio's default."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        api_key=settings.temporal_api_key,
        tls=settings.temporal_tls or bool(settings.temporal_api_key),
        lazy=lazy,
        runtime=runtime,
    )


class NamespaceNotReady(Exception):
    """The namespace lacks search attributes every journey sets; the message says how to add them."""


async def check_namespace(client: Client) -> None:
    """Refuse to run journeys in a namespace that lacks our search attributes: every start
    would be refused (deploy/temporal/create-namespace.sh registers them). A server that
    does not let us look (Temporal Cloud without operator rights) is taken on trust."""
    try:
        answer = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=client.namespace))
    except RPCError as exc:
        if exc.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            return
        raise
    missing = [key.name for key in search_attributes.ALL if key.name not in answer.custom_attributes]
    if missing:
        commands = "; ".join(f"temporal operator search-attribute create --name {name} --type Keyword" for name in missing)
        raise NamespaceNotReady(f"namespace {client.namespace!r} lacks the search attributes {', '.join(missing)}: {commands}")
