"""What the deploy tests share: docker-compose.yml and the Dockerfile, parsed, and the
helpers that read them. No Docker engine is needed: the files are parsed and checked
against each other and against the code (Settings fields, CLI subcommands, search
attributes).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from journeys.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SHARED_ENV_KEY = "x-journeys-env"
APP_SERVICES = ("migrate", "api", "worker")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
PREFIX = "JOURNEYS_"
# What compose substitutes for ${...} in these tests (everything else takes its default).
TEST_ENV = {
    "JOURNEYS_API_KEY": "test-api-key",
    "JOURNEYS_UNSUBSCRIBE_SECRET": "test-unsubscribe-secret",
    "JOURNEYS_POSTAL_ADDRESS": "Test Company, 1 Main Street, Springfield",
}


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict), "no services in docker-compose.yml"
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return parse_dockerfile(DOCKERFILE.read_text())


def interpolate(value: str, env: dict[str, str] = TEST_ENV) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err} and $$."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        current = env.get(name)
        if op in (":-", "-"):
            return current if current or (op == "-" and current is not None) else arg
        if op in (":?", "?"):
            if current is None or (op == ":?" and not current):
                pytest.fail(f"compose would refuse to start: {name} is required ({arg})")
            return current
        return current or ""

    pattern = r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    return re.sub(pattern, substitute, value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["KEY=value", ...]
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def dependencies(service: dict[str, Any]) -> dict[str, str]:
    """depends_on as {target: condition}, for both the list and the mapping form."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def has_healthcheck(service: dict[str, Any]) -> bool:
    check = service.get("healthcheck")
    return bool(check) and not check.get("disable", False) and check.get("test") not in (None, ["NONE"])


def is_one_shot(service: dict[str, Any]) -> bool:
    """A job that runs to completion: not restarted after it exits, serves nothing."""
    restart = str(service.get("restart", "no"))
    return restart not in ("always", "unless-stopped") and not service.get("ports") and not has_healthcheck(service)


def argv(value: Any) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def bind_mounts(service: dict[str, Any]) -> Iterator[tuple[Path, PurePosixPath]]:
    """(host path, container path) of every bind mount; named volumes are skipped."""
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") != "bind":
                continue
            source, target = volume["source"], volume["target"]
        else:
            source, target = volume.split(":")[:2] if ":" in volume else (volume, "")
            if not source.startswith((".", "/")):
                continue  # named volume
        yield (ROOT / source).resolve(), PurePosixPath(target)


def host_file(service: dict[str, Any], container_path: str) -> Path | None:
    """The repository file a container path comes from, if it is under a bind mount."""
    path = PurePosixPath(container_path)
    for source, target in bind_mounts(service):
        if path == target or target in path.parents:
            return source / path.relative_to(target)
    return None


def service_script(service: dict[str, Any]) -> Path:
    """The mounted script a one-shot service runs (entrypoint + command)."""
    for arg in argv(service.get("entrypoint")) + argv(service.get("command")):
        path = host_file(service, arg)
        if path is not None:
            return path
    pytest.fail(f"no mounted script in {service.get('entrypoint')} {service.get('command')}")


def services_by_image(services: dict[str, dict[str, Any]], repository: str) -> list[str]:
    return [name for name, spec in services.items() if interpolate(spec.get("image", "")).split(":")[0] == repository]


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """[(INSTRUCTION, arguments)], comments dropped, continuation lines joined."""
    instructions, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, rest = full.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends in a continuation line"
    return instructions


def exec_form(arguments: str) -> list[str]:
    return json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)


def parse_journeys(command: list[str]) -> Any:
    assert command and command[0] == "journeys", f"not a journeys command: {command}"
    try:
        return build_parser().parse_args(command[1:])
    except SystemExit:
        pytest.fail(f"`{' '.join(command)}` is not a valid journeys command line")


# --- services and dependencies -------------------------------------------------------------
