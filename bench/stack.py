"""The processes `make bench` measures, started as `journeys dev` starts them, and their CPU."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from journeys.contracts import search_attributes
from journeys.devstack.binaries import temporal_cli
from journeys.storage.migrate import upgrade
from journeys.storage.temporal import DATA_CONVERTER


ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key-0123456789"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class Stack:
    home: Path
    api_url: str
    temporal_address: str
    client: Client
    bare_queue: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def mail_dir(self) -> Path:
        return self.home / "mail"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


async def wait_http(url: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while time.monotonic() < end:
            try:
                if (await http.get(url)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not come up")


async def start_stack(home: Path, waiting: int = 0) -> tuple[WorkflowEnvironment, Stack]:
    log("starting Temporal dev server (SQLite file, WAL)")
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_cli(),
        dev_server_database_filename=str(home / "temporal.db"),
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"],
        search_attributes=search_attributes.ALL,
    )
    address = env.client.service_client.config.target_host
    database_url = f"sqlite:///{home / 'journeys.db'}"
    upgrade(database_url)
    smtp_port, api_port = free_port(), free_port()
    child_env = {
        **os.environ,
        "JOURNEYS_HOME": str(home),
        "JOURNEYS_DATABASE_URL": database_url,
        "JOURNEYS_TEMPORAL_ADDRESS": address,
        "JOURNEYS_API_KEY": API_KEY,
        "JOURNEYS_SMTP_PORT": str(smtp_port),
        "JOURNEYS_JOURNEY_PACKAGES": "workflows.journeys,bench.journeys",
        # Keep every waiting journey in the worker's cache, so the memory figure is the
        # cost of a cached journey (the default, 1,000, caps memory instead).
        "JOURNEYS_WORKER_MAX_CACHED_WORKFLOWS": str(max(1000, waiting + 1000)),
        "PYTHONUNBUFFERED": "1",
    }
    journeys = [sys.executable, "-m", "journeys.cli"]
    logs = home / "logs"
    logs.mkdir()
    bare_queue = f"bare-{uuid.uuid4().hex[:6]}"
    commands = {
        "mailcatcher": [*journeys, "mailcatcher", "--port", str(smtp_port)],
        "worker": [*journeys, "worker"],
        "api": [*journeys, "api", "--port", str(api_port)],
        "bare-worker": [sys.executable, "-m", "bench.bare_worker", address, bare_queue],
    }
    stack = Stack(home, f"http://127.0.0.1:{api_port}", address, env.client, bare_queue, commands=commands, env=child_env)
    for name in commands:
        start_process(stack, name)
    await wait_http(f"{stack.api_url}/healthz")
    log(f"stack up: API {stack.api_url}, Temporal {address}, SMTP :{smtp_port}, logs in {logs}")
    return env, stack


def start_process(stack: Stack, name: str, **env: str) -> None:
    out = open(stack.home / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
    stack.processes[name] = subprocess.Popen(
        stack.commands[name], env={**stack.env, **env}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
    )


def restart_worker(stack: Stack, **env: str) -> None:
    """A new worker process (an empty cache), with ``env`` on top of the stack's settings."""
    worker = stack.processes["worker"]
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
    start_process(stack, "worker", **env)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to see who the bottleneck is."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def stack_cpu(stack: Stack) -> dict[str, float]:
    return {name: cpu_seconds(p.pid) for name, p in stack.processes.items()}


def stop_stack(stack: Stack) -> None:
    for process in stack.processes.values():
        process.send_signal(signal.SIGTERM)
    for process in stack.processes.values():
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


# ----- measurements ----------------------------------------------------------------------
