"""Measurements taken in a Python process of their own, started for them.

A measurement taken in the bench's own process after the stack and the memory breakdowns
had run there is not what a developer's fresh process sees: the 30-day journey took 73
ms there against 42-53 ms in a process of its own, and a memory breakdown taken after
another reused the pages the first had freed (its RSS per run came out at 21 KB against
54 KB alone).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine
from typing import Any


def measured_apart(module: str, *args: str) -> dict[str, Any]:
    """Run ``python -m module args...``; the JSON object it printed last."""
    done = subprocess.run([sys.executable, "-m", module, *args], check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def print_and_exit(measure: Callable[[], Coroutine[Any, Any, dict[str, Any]]]) -> None:
    """The ``__main__`` side of ``measured_apart``: run ``measure``, print its figures as JSON."""
    figures: dict[str, Any] = asyncio.run(measure())
    print(json.dumps(figures), flush=True)
    os._exit(0)  # the SDK may abort at interpreter exit (sdk-python#300)
