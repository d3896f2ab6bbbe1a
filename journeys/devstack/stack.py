"""``journeys dev``: the whole stack on one machine, state kept in $JOURNEYS_HOME.

Children (each in its own process group, so Ctrl-C reaches them through us, in order):
the Temporal dev server (SQLite file with WAL), the mail catcher, the worker and the API.
If any child dies, the rest are stopped and the exit says which one and why.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from journeys.contracts import search_attributes
from journeys.devstack.binaries import temporal_cli
from journeys.storage.migrate import upgrade
from journeys.storage.settings import Settings

STOP_GRACE_SECONDS = 10.0
TEMPORAL_UI_PORT = 8233


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


def temporal_command(settings: Settings, *, ui: bool = True) -> list[str]:
    host, _, port = settings.temporal_address.rpartition(":")
    command = [
        temporal_cli(),
        "server",
        "start-dev",
        "--db-filename",
        str((settings.home / "temporal.db").resolve()),
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--ip",
        host or "127.0.0.1",
        "--port",
        port or "7233",
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "warn",
        *[arg for key in search_attributes.ALL for arg in ("--search-attribute", f"{key.name}=Keyword")],
    ]
    if ui:
        command += ["--ui-port", str(TEMPORAL_UI_PORT)]
    else:
        command += ["--headless"]
    return command


def wait_for_port(host: str, port: int, timeout: float, child: Child | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}; see {child.log_path}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


def port_in_use(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def run_dev_stack(settings: Settings, *, ui: bool = True) -> int:
    home = settings.home.resolve()
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"home": home})

    busy = [
        f"{name} port {port}"
        for name, port in (
            ("Temporal", int(settings.temporal_address.rpartition(":")[2])),
            ("API", settings.api_port),
            ("SMTP", settings.smtp_port),
        )
        if port_in_use("127.0.0.1", port)
    ]
    if busy:
        print(f"journeys dev: already in use: {', '.join(busy)} (another `make dev` running?)", file=sys.stderr)
        return 1

    print(f"journeys dev: state in {home}", flush=True)
    upgrade(settings.resolved_database_url)
    api_key = settings.resolved_api_key()
    # Made here, once, before the API and the worker start: both sign and check the same links.
    unsubscribe_secret = settings.resolved_unsubscribe_secret()
    env = {
        **os.environ,
        "JOURNEYS_HOME": str(home),
        "JOURNEYS_API_KEY": api_key,
        "JOURNEYS_UNSUBSCRIBE_SECRET": unsubscribe_secret,
        "JOURNEYS_DEV_MAIL": "true",
        "JOURNEYS_DATABASE_URL": settings.resolved_database_url,
        "PYTHONUNBUFFERED": "1",
    }
    journeys = [sys.executable, "-m", "journeys.cli"]
    children: list[Child] = []

    def spawn(name: str, command: list[str]) -> Child:
        log_path = logs / f"{name}.log"
        log_file = open(log_path, "ab")  # noqa: SIM115 - lives as long as the child
        process = subprocess.Popen(
            command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        child = Child(name, process, log_path)
        children.append(child)
        return child

    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        temporal = spawn("temporal", temporal_command(settings, ui=ui))
        host, _, port = settings.temporal_address.rpartition(":")
        wait_for_port(host or "127.0.0.1", int(port), 60, temporal)
        catcher = spawn("mailcatcher", [*journeys, "mailcatcher"])
        wait_for_port("127.0.0.1", settings.smtp_port, 30, catcher)
        spawn("worker", [*journeys, "worker"])
        api = spawn("api", [*journeys, "api"])
        wait_for_port(settings.api_host, settings.api_port, 60, api)

        base = f"http://{settings.api_host}:{settings.api_port}"
        print(
            "\n".join(
                [
                    "",
                    "Journeys is running. Ctrl-C stops everything.",
                    f"  API docs     {base}/docs",
                    f"  Temporal UI  http://127.0.0.1:{TEMPORAL_UI_PORT}" if ui else "  Temporal UI  (headless)",
                    f"  Mail         {base}/dev/mail",
                    f"  API key      {api_key}",
                    f"  Logs         {logs}/",
                    "",
                    "Try it:",
                    f"  export JOURNEYS_API_KEY={api_key}",
                    "  (then the curl examples in README.md)",
                    "",
                ]
            ),
            flush=True,
        )
        while not stopping:
            for child in children:
                if child.process.poll() is not None:
                    print(
                        f"journeys dev: {child.name} exited with {child.process.returncode}; "
                        f"last lines of {child.log_path}:\n{_tail(child.log_path)}",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(0.2)
        print("\njourneys dev: stopping…", flush=True)
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"journeys dev: {exc}", file=sys.stderr)
        return 1
    finally:
        # API and worker first (they finish what they hold), Temporal last.
        for child in reversed(children):
            stop_child(child)


def stop_child(child: Child) -> None:
    if child.process.poll() is not None:
        return
    try:
        os.killpg(child.process.pid, signal.SIGTERM)
        child.process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(child.process.pid, signal.SIGKILL)
        child.process.wait()
    except ProcessLookupError:
        pass


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
