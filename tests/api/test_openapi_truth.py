"""The OpenAPI document tells the truth: schemathesis (`st run --checks all`) against the
live stack (Temporal dev server, worker, API over HTTP, mail catcher) finds nothing.

Every check is on: no 5xx, every status and content type documented, every body in its
documented shape, schema-valid requests accepted and schema-violating ones refused, and
the stateful links (a customer made, read, erased, then gone). The seed is fixed so that
a failure here is a failure on every run; JOURNEYS_SCHEMATHESIS_SEED and
JOURNEYS_SCHEMATHESIS_EXAMPLES explore further (README, "The API").
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.live_stack import API_KEY, live_stack

SEED = os.environ.get("JOURNEYS_SCHEMATHESIS_SEED", "20261201")
EXAMPLES = os.environ.get("JOURNEYS_SCHEMATHESIS_EXAMPLES", "25")


async def test_schemathesis_finds_no_failure_in_the_live_api(dev_server: WorkflowEnvironment, tmp_path: Path) -> None:
    st = Path(sys.executable).parent / "st"
    async with live_stack(dev_server, tmp_path, dev_mail=True) as stack:
        run = await asyncio.create_subprocess_exec(
            str(st), "run", f"{stack.base_url}/openapi.json",
            "--checks", "all",
            "-H", f"Authorization: Bearer {API_KEY}",
            "--max-examples", EXAMPLES,
            "--seed", SEED,
            # One worker: CPython 3.11's ast module is not thread-safe (python/cpython#106905),
            # and Hypothesis parses lambdas with it while drawing.
            "--workers", "1",
            "--no-color",
            cwd=tmp_path,  # its crash cache (.schemathesis/) stays out of the repository
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(run.communicate(), timeout=300)
    report = output.decode(errors="replace")
    summary = report[report.rfind("SUMMARY") :]
    assert run.returncode == 0, report[-20_000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert generated is not None and generated[1] == generated[2] and int(generated[1]) > 1000, summary
