"""The data converter's payload converter is built once per process: the SDK makes one for
every workflow run (and two data converters per activation), and each used to start with
no type adapters, paying for its input's again. Values still round-trip as pydantic models."""

from __future__ import annotations

from datetime import datetime, timezone

from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter

from journeys.contracts.customers import Customer
from journeys.contracts.journey_io import JourneyInput
from journeys.storage.temporal import DATA_CONVERTER


def _json_part(converter: object) -> PydanticJSONPlainPayloadConverter:
    inner = getattr(converter, "_inner_payload_converter", converter)  # the SDK's transfer-type wrapper
    return inner.converters[b"json/plain"]  # type: ignore[attr-defined, no-any-return]


def test_every_new_payload_converter_shares_the_first_ones_type_adapters() -> None:
    first, second = DATA_CONVERTER._new_payload_converter(), DATA_CONVERTER._new_payload_converter()
    assert first is not second
    assert _json_part(first) is _json_part(second)
    value = JourneyInput(journey="welcome", customer_id="ann", customer=Customer(id="ann", email="ann@example.com"))
    payloads = first.to_payloads([value])
    _json_part(first)._type_adapter.cache_clear()
    assert second.from_payloads(payloads, [JourneyInput]) == [value]
    assert _json_part(first)._type_adapter.cache_info().currsize == 1  # the second's lookup is the first's


def test_a_converter_with_context_still_converts_models() -> None:
    from temporalio.converter import WorkflowSerializationContext

    converter = DATA_CONVERTER.with_context(WorkflowSerializationContext(namespace="default", workflow_id="w"))
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    payloads = converter.payload_converter.to_payloads([Customer(id="a", attributes={"at": moment.isoformat()})])
    assert converter.payload_converter.from_payloads(payloads, [Customer]) == [Customer(id="a", attributes={"at": moment.isoformat()})]
