"""`journeys dev` (what `make dev` runs): everything starts, mail arrives, Ctrl-C stops it
all, and the next start finds the journeys of the last one still waiting."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from temporalio.client import Client, WorkflowExecutionStatus

from journeys.devstack.stack import port_in_use
from journeys.devstack.mail_catcher import CaughtMail, read_mailbox
from journeys.storage.temporal import DATA_CONVERTER
from tests.conftest import free_port, wait_until


def start_dev(home: Path, ports: dict[str, int]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "JOURNEYS_HOME": str(home),
        "JOURNEYS_TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "JOURNEYS_API_PORT": str(ports["api"]),
        "JOURNEYS_SMTP_PORT": str(ports["smtp"]),
    }
    env.pop("JOURNEYS_API_KEY", None)
    env.pop("JOURNEYS_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "journeys.cli", "dev", "--headless"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def stop_with_ctrl_c(process: subprocess.Popen[bytes], ports: dict[str, int]) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = await asyncio.to_thread(process.communicate, timeout=60)
    assert process.returncode == 0, out.decode()
    for name, port in ports.items():
        assert not port_in_use("127.0.0.1", port), f"{name} still listening on {port} after Ctrl-C"
    return out.decode()


async def test_dev_stack_runs_everything_stops_on_ctrl_c_and_keeps_state(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ports = {"temporal": free_port(), "api": free_port(), "smtp": free_port()}
    base = f"http://127.0.0.1:{ports['api']}"
    first = start_dev(home, ports)
    try:
        async def api_up() -> bool:
            async with httpx.AsyncClient() as http:
                return (await http.get(f"{base}/healthz")).status_code == 200

        await wait_until(api_up, timeout=90, what="the dev stack's API")
        key = (home / "api_key").read_text().strip()
        assert key.startswith("dev_"), "a generated development key, kept in JOURNEYS_HOME"
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers) as http:
            await http.put("/v1/customers/ann", json={"email": "ann@example.com", "attributes": {"first_name": "Ann"}})
            sent = await http.post("/v1/events", json={"id": "signup-ann", "type": "user.signed_up", "customer_id": "ann"})
            assert sent.status_code == 202

            async def caught() -> bool:
                return len(read_mailbox(home / "mail")) == 1

            await wait_until(caught, timeout=10, what="the welcome email in the mail catcher")
            page = await http.get("/dev/mail")
            assert page.status_code == 200 and "Welcome to Journeys, Ann!" in page.text
        client = await Client.connect(f"127.0.0.1:{ports['temporal']}", data_converter=DATA_CONVERTER)
        first_run_id = (await client.get_workflow_handle("journey:welcome:ann").describe()).run_id
    finally:
        if first.poll() is None:
            output = await stop_with_ctrl_c(first, ports)
        else:
            output = first.stdout.read().decode() if first.stdout else ""
    assert "API docs" in output and "API key" in output and key in output

    second = start_dev(home, ports)
    try:
        await wait_until(api_up, timeout=90, what="the dev stack, second start")
        client = await Client.connect(f"127.0.0.1:{ports['temporal']}", data_converter=DATA_CONVERTER)
        description = await client.get_workflow_handle("journey:welcome:ann").describe()
        assert description.status == WorkflowExecutionStatus.RUNNING, "still waiting for user.activated"
        assert description.run_id == first_run_id, "the same run carries on: not restarted from the beginning"
        # The worker and the API start side by side, so a resend for Ann could still be on its
        # way when the API answers. A second customer's welcome arriving proves the worker is
        # up and has caught up; only then does Ann's count say anything.
        async with httpx.AsyncClient(base_url=base, headers=headers) as http:
            await http.put("/v1/customers/bob", json={"email": "bob@example.com", "attributes": {"first_name": "Bob"}})
            sent = await http.post("/v1/events", json={"id": "signup-bob", "type": "user.signed_up", "customer_id": "bob"})
            assert sent.status_code == 202

        def mail_to(address: str) -> list[CaughtMail]:
            return [m for m in read_mailbox(home / "mail") if address in m.to]

        async def bob_caught() -> bool:
            return len(mail_to("bob@example.com")) == 1

        await wait_until(bob_caught, timeout=30, what="the second customer's welcome after the restart")
        assert len(mail_to("ann@example.com")) == 1, "nothing sent twice on restart"
    finally:
        if second.poll() is None:
            await stop_with_ctrl_c(second, ports)
