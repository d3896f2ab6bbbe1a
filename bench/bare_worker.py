"""Worker process for the bare workflow (run by bench/__main__.py)."""

from __future__ import annotations

import asyncio
import os
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare_workflow import BareWorkflow, bare_noop


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    worker = Worker(client, task_queue=task_queue, workflows=[BareWorkflow], activities=[bare_noop])
    print("bare worker ready", flush=True)
    await worker.run()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2]))
    except KeyboardInterrupt:
        pass
    sys.stdout.flush()
    os._exit(0)
