"""The Dockerfile: the image has what the package needs and runs what compose asks of it."""

from __future__ import annotations

import tomllib
from typing import Any


from journeys.storage.settings import Settings

from tests.deploy.conftest import (
    APP_SERVICES,
    ROOT,
    argv,
    exec_form,
    parse_journeys,
)


def test_dockerfile_copies_everything_the_package_needs(dockerfile: list[tuple[str, str]]) -> None:
    sources = []
    for instruction, arguments in dockerfile:
        if instruction in ("COPY", "ADD"):
            parts = [part for part in exec_form(arguments) if not part.startswith("--")]
            sources += parts[:-1]
    plain = {source.rstrip("/") for source in sources if not any(c in source for c in "*?[")}
    missing = sorted(source for source in plain if not (ROOT / source).exists())
    assert not missing, f"COPY sources that do not exist: {missing}"

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    needed = {"pyproject.toml", "templates"}  # templates/: Settings.templates_dir, beside the packages
    needed |= {pattern.rstrip("*") for pattern in project["packages"]["find"]["include"]}
    needed |= {f"{module}.py" for module in project.get("py-modules", [])}
    assert needed <= plain, f"the image lacks {sorted(needed - plain)}"


def test_image_runs_as_a_non_root_user(dockerfile: list[tuple[str, str]]) -> None:
    users = [arguments.split(":")[0] for instruction, arguments in dockerfile if instruction == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image runs as root"


def test_commands_are_real_journeys_subcommands(
    dockerfile: list[tuple[str, str]], services: dict[str, dict[str, Any]]
) -> None:
    cmds = [exec_form(arguments) for instruction, arguments in dockerfile if instruction == "CMD"]
    assert cmds, "the Dockerfile has no CMD"
    cmd = cmds[-1]
    assert not [i for i, _ in dockerfile if i == "ENTRYPOINT"], "CMD is taken to be the whole command line"
    default = parse_journeys(cmd)
    assert default.command == "api" and default.host == "0.0.0.0", "the default command must serve the API"
    for name in APP_SERVICES:
        args = parse_journeys(argv(services[name].get("command")) or cmd)
        assert args.command == name, f"service {name} runs `journeys {args.command}`"
        if args.command == "api":
            assert args.host == "0.0.0.0", "the API must bind 0.0.0.0 to be reachable from outside its container"
            port = str(args.port or Settings.model_fields["api_port"].default)
            published = [str(p).rsplit(":", 1)[-1] for p in services[name].get("ports", [])]
            assert port in published, f"the API listens on {port}, compose publishes {published}"
