"""The real parts the fault suite runs and breaks: a PostgreSQL cluster of its own (Debian's
binaries under ``pg_ctl``), a Temporal dev server on a file (so it can stop and start
again with its state), API and worker processes (``journeys api`` / ``journeys worker``)."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from journeys.devstack.stack import temporal_command
from journeys.storage.settings import PROJECT_ROOT, Settings

API_KEY = "chaos-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def until(check: object, what: str, timeout: float) -> None:
    """Wait for ``check()`` (sync or async) to be true, with a deadline."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()  # type: ignore[operator]
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{what} not within {timeout:.0f} s")


class PostgresCluster:
    """A throwaway cluster: initdb in a temporary directory, started and stopped with pg_ctl."""

    def __init__(self, root: Path) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            raise RuntimeError("Debian's PostgreSQL binaries (/usr/lib/postgresql/*/bin) are needed for the fault suite")
        self.bin = Path(found[-1]).parent
        self.root, self.data, self.port = root, root / "pgdata", free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: its own user, its own directory
            shutil.chown(self.root, "postgres", "postgres")
            for parent in self.root.parents:
                if parent == Path("/tmp") or parent == Path("/"):
                    break
                parent.chmod(parent.stat().st_mode | 0o011)  # let it through the work directory
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "postgres.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


class TemporalServer:
    """The dev server on a SQLite file: stop it, start it again, its workflows are there."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.settings = Settings(home=home, temporal_address=f"127.0.0.1:{self.port}")
        self.command = [*temporal_command(self.settings, ui=False), "--http-port", str(free_port())]
        self.log = home / "temporal.log"
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT)
        await until(lambda: port_open(self.port), "Temporal listening", 60)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


@dataclass
class Journeys:
    """The project's own processes, as `journeys dev` runs them, on shared settings."""

    home: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def start(self, name: str) -> None:
        kind = name.rstrip("0123456789")
        command = [sys.executable, "-m", "journeys.cli", kind]
        if kind == "api":
            self.ports.setdefault(name, free_port())
            command += ["--port", str(self.ports[name])]
        out = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(command, env=self.env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    async def wait_api(self, name: str) -> None:
        async def answers() -> bool:
            try:
                async with httpx.AsyncClient(timeout=2) as http:
                    return (await http.get(f"{self.url(name)}/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        await until(answers, f"{name} answering", 60)

    def kill(self, name: str) -> None:
        """kill -9: no shutdown, no cleanup, whatever it was doing."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()


def journeys_env(home: Path, database_url: str, temporal: TemporalServer, **settings: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "PYTHONUNBUFFERED": "1",
        "JOURNEYS_HOME": str(home),
        "JOURNEYS_DATABASE_URL": database_url,
        "JOURNEYS_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal.port}",
        "JOURNEYS_API_KEY": API_KEY,
        "JOURNEYS_UNSUBSCRIBE_SECRET": "chaos-secret",
        "JOURNEYS_RELAY_INTERVAL_SECONDS": "0.5",
        **{f"JOURNEYS_{key.upper()}": value for key, value in settings.items()},
    }
