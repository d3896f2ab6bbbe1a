"""What wakes the test kit's ``settle``: the worker finishing a piece of work.

``settle`` asks each journey what it still has to do. Asking costs a query (a workflow
activation on the worker) and asking too often slows the very work it waits for, so
between questions it waits for this: an activity of the kit's worker finishing (a send,
a record), or a short pause for work no activity marks (a workflow task).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

# Longest pause between two questions when nothing finished meanwhile.
PAUSE_S = 0.005


class Progress(Interceptor):
    def __init__(self) -> None:
        self._finished = asyncio.Event()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Marking(next, self._finished)

    async def wait(self) -> None:
        """Until an activity finishes, or ``PAUSE_S`` has passed."""
        try:
            await asyncio.wait_for(self._finished.wait(), PAUSE_S)
        except TimeoutError:
            pass
        self._finished.clear()


class _Marking(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, finished: asyncio.Event) -> None:
        super().__init__(next)
        self._done = finished

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        finally:
            self._done.set()
