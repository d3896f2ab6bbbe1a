"""The worker's two Prometheus endpoints, and the Temporal runtime of a process.

The worker has no HTTP server of its own, so ours is prometheus_client's (a thread, off
the event loop: a scrape never waits for a busy loop). The Temporal SDK exports its own
metrics (task latencies, pollers, slots, sticky cache) from its Rust core on a second
port; that is configured on the process's ``Runtime``, which every client of the process
must share (temporalio allows one per process to own the core's threads).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from temporalio.runtime import LogForwardingConfig, LoggingConfig, PrometheusConfig, Runtime, TelemetryConfig

from journeys.telemetry.metrics import REGISTRY

_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


@dataclass
class MetricsServer:
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_metrics(bind: str, port: int) -> MetricsServer | None:
    """Serve the registry on ``bind:port`` (any path) until ``close()``; None if port is 0.
    Raises OSError when the port is taken."""
    if port == 0:
        return None
    server, thread = start_http_server(port, addr=bind, registry=REGISTRY)
    return MetricsServer(server, thread)


def address(bind: str, port: int) -> str:
    """host:port as the SDK's core parses it (an IPv6 address in brackets)."""
    return f"[{bind}]:{port}" if ":" in bind else f"{bind}:{port}"


def temporal_runtime(bind: str = "127.0.0.1", port: int = 0) -> Runtime:
    """The process's Temporal runtime, made on the first call (later calls get that one).

    ``port``: the SDK's metrics on ``bind:port`` (0: none), named as Prometheus would have
    them (``_total`` counters, durations in seconds). The core's own log lines go through
    Python logging (``temporalio.core``) instead of straight to stderr, so they are
    formatted (JSON lines stay JSON) and masked like every other line.
    Raises ValueError when the port is taken.
    """
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            metrics = (
                PrometheusConfig(
                    bind_address=address(bind, port),
                    counters_total_suffix=True,
                    unit_suffix=True,
                    durations_as_seconds=True,
                )
                if port
                else None
            )
            logs = LoggingConfig(
                filter=LoggingConfig.default.filter,
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            )
            _runtime = Runtime(telemetry=TelemetryConfig(logging=logs, metrics=metrics))
        return _runtime
