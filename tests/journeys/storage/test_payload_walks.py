"""journeys/storage/payload_walks.py: the worker skips the SDK's payload walks only where
they could change nothing; a data converter with a codec still has every payload encoded."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from pathlib import Path

import temporalio.bridge.worker as bridge_worker
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import PayloadCodec
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from journeys.storage.payload_walks import skip_needless_payload_walks
from journeys.storage.temporal import DATA_CONVERTER
from journeys.testkit import running_journeys
from tests.journeys.storage.payload_walk_workflows import Echo, echo
from workflows.registry import discover


class Reversing(PayloadCodec):
    """A codec that shows in the history: data reversed, and marked."""

    def __init__(self) -> None:
        self.encoded = 0

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.encoded += len(payloads)
        return [Payload(metadata={**p.metadata, "codec": b"reversed"}, data=p.data[::-1]) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            meta = dict(p.metadata)
            if meta.pop("codec", None) == b"reversed":
                out.append(Payload(metadata=meta, data=p.data[::-1]))
            else:
                out.append(p)
        return out


async def test_the_worker_installs_the_skip(time_skipping_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with running_journeys(time_skipping_env, discover("bench.journeys"), tmp_path):
        assert getattr(bridge_worker.decode_activation, "skips_needless_walks", False)
        assert getattr(bridge_worker.encode_completion, "skips_needless_walks", False)
    assert skip_needless_payload_walks()  # installing again changes nothing


async def test_a_codec_still_sees_every_workflow_payload(time_skipping_env: WorkflowEnvironment) -> None:
    assert skip_needless_payload_walks()
    codec = Reversing()
    converter = dataclasses.replace(DATA_CONVERTER, payload_codec=codec)
    config = time_skipping_env.client.config()
    config["data_converter"] = converter
    client = Client(**config)
    queue = f"walks-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[Echo], activities=[echo]):
        # A skipped decode would leave the codec's bytes for the workflow: its task fails
        # again and again, and the run never ends.
        run = client.execute_workflow(Echo.run, "héllo ' \"x\"", id=f"walk-{queue}", task_queue=queue)
        result = await asyncio.wait_for(run, timeout=20)
    assert result == "héllo ' \"x\""
    history = await client.get_workflow_handle(f"walk-{queue}").fetch_history()
    scheduled = next(e for e in history.events if e.HasField("activity_task_scheduled_event_attributes"))
    [arg] = scheduled.activity_task_scheduled_event_attributes.input.payloads
    assert arg.metadata["codec"] == b"reversed"  # the workflow's command went through the codec
    assert codec.encoded >= 3
