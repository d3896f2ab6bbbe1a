"""What an operator sees of one scripted flow: ``journeys api`` and ``journeys worker`` run as
the real commands (fresh processes, so every counter starts at zero and the values are
exact), on the Temporal dev server, sending through SMTP to the mail catcher, logging JSON.

Scraped afterwards: the API's ``/metrics``, the worker's endpoint and the Temporal SDK's;
read afterwards: both processes' log lines, where one email is followed by its ids.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from journeys.contracts.journey_spec import workflow_id
from journeys.devstack.mail_catcher import MailCatcher, read_mailbox
from journeys.storage.migrate import upgrade
from tests.conftest import free_port, wait_until
from tests.journeys.telemetry.scrape import Scrape, naming_problems

API_KEY = "metrics-e2e-key-0123456789"
EMAIL = "ann.metrics@example.com"


@dataclass
class Running:
    api: str
    worker_metrics: str
    temporal_metrics: str
    api_log: Path
    worker_log: Path
    mail_dir: Path

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)

    @staticmethod
    def lines(log: Path) -> list[dict[str, Any]]:
        """Every line of a process's log, each one JSON object (json.loads fails otherwise)."""
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


async def get_text(url: str) -> str | None:
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            answer = await http.get(url)
    except httpx.HTTPError:
        return None
    return answer.text if answer.status_code == 200 else None


@pytest_asyncio.fixture
async def stack(dev_server: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Running]:
    database_url = f"sqlite:///{tmp_path / 'journeys.db'}"
    upgrade(database_url)
    api_port, worker_port, temporal_port = free_port(), free_port(), free_port()
    journeys = Path(sys.executable).parent / "journeys"
    task_queue = f"metrics-{uuid.uuid4().hex[:8]}"
    with MailCatcher(tmp_path / "mail", port=free_port()) as catcher:
        env = {
            "PATH": os.environ["PATH"],
            "JOURNEYS_HOME": str(tmp_path / "home"),
            "JOURNEYS_DATABASE_URL": database_url,
            "JOURNEYS_API_KEY": API_KEY,
            "JOURNEYS_TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
            "JOURNEYS_TEMPORAL_TASK_QUEUE": task_queue,
            "JOURNEYS_SMTP_PORT": str(catcher.port),
            "JOURNEYS_PUBLIC_URL": f"http://127.0.0.1:{api_port}",
            "JOURNEYS_LOG_FORMAT": "json",
            "JOURNEYS_WORKER_METRICS_PORT": str(worker_port),
            "JOURNEYS_TEMPORAL_METRICS_PORT": str(temporal_port),
        }
        running = Running(
            f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{worker_port}/metrics",
            f"http://127.0.0.1:{temporal_port}/metrics", tmp_path / "api.log", tmp_path / "worker.log", catcher.directory,
        )
        with spawned([str(journeys), "api", "--port", str(api_port)], env, running.api_log, tmp_path), spawned(
            [str(journeys), "worker"], env, running.worker_log, tmp_path
        ):
            async def up() -> bool:
                polling = any("worker polling" in line for line in running.worker_log.read_text().splitlines())
                return polling and await get_text(f"{running.api}/healthz") is not None and await get_text(running.worker_metrics) is not None

            await wait_until(up, timeout=60, what="the API and the worker started")
            try:
                yield running
            finally:
                async for execution in dev_server.client.list_workflows(f'TaskQueue = "{task_queue}" AND ExecutionStatus = "Running"'):
                    await dev_server.client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate("test finished")


class spawned:
    """A process for the block's length, its stdout and stderr in ``log``; stopped as
    Ctrl-C stops it (SIGINT), killed if it does not stop."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path, cwd: Path) -> None:
        self.command, self.env, self.log, self.cwd = command, env, log, cwd

    def __enter__(self) -> subprocess.Popen[bytes]:
        self.out = self.log.open("wb")
        self.process = subprocess.Popen(self.command, env=self.env, stdout=self.out, stderr=subprocess.STDOUT, cwd=self.cwd)
        return self.process

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.out.close()


async def test_one_flow_seen_in_metrics_and_followed_in_the_logs(stack: Running) -> None:
    customer = f"m-{uuid.uuid4().hex[:6]}"
    signup = {"id": f"{customer}-signup", "type": "user.signed_up", "customer_id": customer}
    async with stack.http() as http:
        assert (await http.put(f"/v1/customers/{customer}", json={"email": EMAIL, "attributes": {"first_name": "Ann"}})).status_code == 201
        assert (await http.post("/v1/events", json=signup)).json()["accepted"] == 1
        assert (await http.post("/v1/events", json=signup)).json()["duplicates"] == 1
        views = [{"id": f"{customer}-view-{i}", "type": "page.viewed", "customer_id": customer} for i in range(2)]
        assert (await http.post("/v1/events", json={"events": views})).json()["accepted"] == 2

        async def mailed() -> bool:
            return len(read_mailbox(stack.mail_dir)) == 1

        await wait_until(mailed, timeout=30, what="the welcome email at the mail catcher")

        async def logged_as_sent() -> dict[str, Any] | None:
            rows = (await http.get(f"/v1/customers/{customer}/messages")).json()
            return rows[0] if rows and rows[0]["status"] == "sent" else None

        message = await wait_until(logged_as_sent, timeout=30, what="the message log saying sent")

    # ----- the API's /metrics: exact, as this process counted nothing else --------------
    api = Scrape(await get_text(f"{stack.api}/metrics") or "")
    assert naming_problems(api, "journeys_") == []
    assert api.value("journeys_events_accepted_total", source="api") == 3
    assert api.value("journeys_events_duplicate_total", source="api") == 1
    assert api.value("journeys_events_accepted_total", source="segment") == 0
    assert api.value("journeys_ingest_duration_seconds_count") == 3
    assert api.value("journeys_http_requests_total", route="/v1/events", method="POST", status="202") == 3
    assert api.value("journeys_http_requests_total", route="/v1/customers/{customer_id}", method="PUT", status="201") == 1
    assert api.value("journeys_dispatched_total", how="start") == 1  # only the sign-up starts a journey
    assert api.value("journeys_dispatched_total", how="retried") == 0
    assert api.value("journeys_outbox_depth") == 0 and api.value("journeys_dispatch_lag_seconds") == 0
    assert api.value("journeys_dead_letters", kind="message") == 0

    # ----- the worker's endpoint ---------------------------------------------------------
    async def worker_counted() -> Scrape | None:
        scrape = Scrape(await get_text(stack.worker_metrics) or "")
        return scrape if scrape.value("journeys_sends_total", esp="smtp", journey="welcome", status="sent") == 1 else None

    worker = await wait_until(worker_counted, what="the send counted by the worker")
    assert naming_problems(worker, "journeys_") == []
    assert worker.value("journeys_policy_decisions_total", reason="allowed") == 1
    assert sum(s.value for s in worker.samples if s.name == "journeys_policy_decisions_total") == 1
    assert sum(s.value for s in worker.samples if s.name == "journeys_sends_total") == 1
    assert worker.value("journeys_render_duration_seconds_count") == 1
    assert worker.value("journeys_esp_request_duration_seconds_count", esp="smtp") == 1
    assert customer not in (await get_text(stack.worker_metrics) or "")

    # ----- the Temporal SDK's endpoint -------------------------------------------------------
    async def sdk_metrics() -> Scrape | None:
        scrape = Scrape(await get_text(stack.temporal_metrics) or "")
        return scrape if any(name.startswith("temporal_") for name in scrape.families) else None

    sdk = await wait_until(sdk_metrics, what="the Temporal SDK's metrics")
    assert naming_problems(sdk, "temporal_") == []
    assert any(s.name == "temporal_request_total" for s in sdk.samples), sorted(sdk.families)

    # ----- one email followed by its ids across both processes' JSON lines -----------------
    wid = workflow_id("welcome", customer)

    async def sent_line() -> dict[str, Any] | None:
        return next((line for line in stack.lines(stack.worker_log) if line["message"].startswith("sent welcome")), None)

    sent = await wait_until(sent_line, what="the worker's line of the send")
    assert (sent["workflow_id"], sent["message_id"], sent["customer_id"]) == (wid, message["id"], customer)
    assert sent["logger"] == "journeys.deliver" and sent["level"] == "INFO" and sent["time"].endswith("Z")
    api_lines = stack.lines(stack.api_log)
    [stored] = [line for line in api_lines if line.get("event_id") == signup["id"] and line["message"] == "events stored: 1, duplicates: 0"]
    assert stored["customer_id"] == customer
    [dispatched] = [line for line in api_lines if line.get("event_id") == signup["id"] and line.get("workflow_id") == wid]
    assert "(start)" in dispatched["message"]
    # Temporal's workflow.logger still names its run, as a field now.
    entered = [line for line in stack.lines(stack.worker_log) if line["message"].startswith("journey welcome entered")]
    assert entered and entered[0]["workflow_id"] == wid
    # Grepping the workflow id finds the hand-over in the API and the send in the worker.
    assert {line["logger"] for line in [*api_lines, *stack.lines(stack.worker_log)] if line.get("workflow_id") == wid} >= {
        "journeys.dispatch", "journeys.deliver",
    }
    for log in (stack.api_log, stack.worker_log):
        assert EMAIL not in log.read_text(), f"an address in {log.name}"
