"""docker-compose.yml and deploy/: the structure a user would notice breaking."""

from __future__ import annotations

import os
import re
import shlex
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url
from temporalio.api.enums.v1 import IndexedValueType

from journeys.contracts import search_attributes
from journeys.storage.settings import Settings

from tests.deploy.conftest import (
    APP_SERVICES,
    CONDITIONS,
    DOCKERFILE,
    PREFIX,
    ROOT,
    SHARED_ENV_KEY,
    TEST_ENV,
    argv,
    bind_mounts,
    dependencies,
    environment,
    has_healthcheck,
    host_file,
    interpolate,
    is_one_shot,
    service_script,
    services_by_image,
)


def test_every_service_has_an_image_or_a_build(services: dict[str, dict[str, Any]]) -> None:
    missing = [name for name, spec in services.items() if not (spec.get("image") or spec.get("build"))]
    assert not missing, f"services without image or build: {missing}"


def test_depends_on_targets_exist_and_conditions_fit_them(services: dict[str, dict[str, Any]]) -> None:
    problems = []
    for name, spec in services.items():
        for target, condition in dependencies(spec).items():
            if target not in services:
                problems.append(f"{name} depends on unknown service {target}")
                continue
            if condition not in CONDITIONS:
                problems.append(f"{name} -> {target}: unknown condition {condition}")
            if condition == "service_healthy" and not has_healthcheck(services[target]):
                problems.append(f"{name} waits for {target} to be healthy, but it has no healthcheck")
            if condition == "service_completed_successfully" and not is_one_shot(services[target]):
                problems.append(f"{name} waits for {target} to complete, but {target} keeps running")
    assert not problems, "\n".join(problems)


def test_dependencies_have_no_cycle(services: dict[str, dict[str, Any]]) -> None:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for target in dependencies(services.get(name, {})):
            visit(target, (*path, name))
        done.add(name)

    for name in services:
        visit(name, ())


def test_setup_jobs_run_once_and_servers_stay_up(services: dict[str, dict[str, Any]]) -> None:
    for job in ("temporal-admin-tools", "temporal-create-namespace", "migrate"):
        assert is_one_shot(services[job]), f"{job} must exit when done (no restart: always/unless-stopped)"
    for server in ("postgresql", "temporal", "temporal-ui", "api", "worker", "mailcatcher"):
        assert services[server].get("restart") == "unless-stopped", f"{server} should restart: unless-stopped"


def test_one_named_network_and_a_named_postgres_volume(compose: dict[str, Any]) -> None:
    networks = compose.get("networks") or {}
    assert len(networks) == 1, f"expected one network, got {list(networks)}"
    (network,) = networks
    for name, spec in compose["services"].items():
        assert spec.get("networks") == [network], f"{name} is not (only) on network {network}"
    volumes = [v.split(":")[0] for v in compose["services"]["postgresql"].get("volumes", []) if isinstance(v, str)]
    data = [v for v in volumes if not v.startswith((".", "/"))]
    assert data and all(v in (compose.get("volumes") or {}) for v in data), "postgres data is not a named volume"


# --- Temporal --------------------------------------------------------------------------------


def test_temporal_uses_postgres12_on_the_postgresql_service(services: dict[str, dict[str, Any]]) -> None:
    postgres_env = environment(services["postgresql"])
    (server,) = services_by_image(services, "temporalio/server")
    for name in (server, "temporal-admin-tools"):
        env = environment(services[name])
        assert env.get("DB") == "postgres12", f"{name}: DB={env.get('DB')}"
        seed = env.get("POSTGRES_SEEDS")
        assert seed in services and services_by_image(services, "postgres") == [seed], f"{name}: POSTGRES_SEEDS={seed}"
        assert env.get("DB_PORT", "5432") == "5432"
        assert env.get("POSTGRES_USER") == postgres_env["POSTGRES_USER"], f"{name}: wrong database user"
        password = env.get("POSTGRES_PWD") or env.get("SQL_PASSWORD")
        assert password == postgres_env["POSTGRES_PASSWORD"], f"{name}: wrong database password"
    assert dependencies(services[server]).get("temporal-admin-tools") == "service_completed_successfully"

    script = service_script(services["temporal-admin-tools"]).read_text()
    for database, schema in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        setup = rf"\b{database}\s+\"?\$SCHEMA_DIR/{schema}/versioned"
        assert re.search(setup, script), f"no schema setup for {database}"
    assert "/etc/temporal/schema/postgresql/v12" in script


def test_temporal_dynamic_config_file_is_mounted(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    path = environment(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    # Relative paths are relative to the server image's working directory, /etc/temporal.
    container_path = path if path.startswith("/") else f"/etc/temporal/{path}"
    source = host_file(temporal, container_path)
    assert source is not None and source.is_file(), f"{path} is not mounted from the repository"
    assert isinstance(yaml.safe_load(source.read_text()), dict)


def test_namespace_job_registers_exactly_the_journey_search_attributes(services: dict[str, dict[str, Any]]) -> None:
    script = service_script(services["temporal-create-namespace"]).read_text()
    registered: dict[str, str] = {}
    for line in script.splitlines():
        if re.search(r"\btemporal\s+operator\s+search-attribute\s+create\b", line):
            names = re.findall(r"--name[ =](\S+)", line)
            types = re.findall(r"--type[ =](\S+)", line)
            assert len(names) == 1 and len(types) == 1, f"one --name and --type per line: {line.strip()}"
            registered[names[0].strip("'\"")] = types[0].strip("'\"")
    assert registered == {"CustomerId": "Keyword", "Journey": "Keyword", "JourneyStep": "Keyword", "CustomerKey": "Keyword"}
    # ...which is what the code sets on every journey.
    keyword = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    assert {key.name: key.indexed_value_type for key in search_attributes.ALL} == dict.fromkeys(registered, keyword)


def test_app_talks_to_the_namespace_and_server_that_are_set_up(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    app = compose[SHARED_ENV_KEY]
    job = environment(services["temporal-create-namespace"])
    assert app["JOURNEYS_TEMPORAL_NAMESPACE"] == job["TEMPORAL_NAMESPACE"]
    assert app["JOURNEYS_TEMPORAL_ADDRESS"] == job["TEMPORAL_ADDRESS"]
    host, _, port = app["JOURNEYS_TEMPORAL_ADDRESS"].rpartition(":")
    assert host in services_by_image(services, "temporalio/server") and port == "7233"
    assert environment(services["temporal-ui"])["TEMPORAL_ADDRESS"] == app["JOURNEYS_TEMPORAL_ADDRESS"]


# --- the app: image, settings, commands ------------------------------------------------------


def test_api_worker_and_migrate_share_image_build_and_settings(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    shared = compose[SHARED_ENV_KEY]
    first = services[APP_SERVICES[0]]
    assert first.get("build"), f"{APP_SERVICES[0]} does not build the image"
    context = first["build"]["context"] if isinstance(first["build"], dict) else first["build"]
    dockerfile = first["build"].get("dockerfile", "Dockerfile") if isinstance(first["build"], dict) else "Dockerfile"
    assert (ROOT / context / dockerfile).resolve() == DOCKERFILE
    for name in APP_SERVICES:
        spec = services[name]
        assert spec.get("build") == first["build"] and spec.get("image") == first.get("image"), f"{name}: other image"
        env = environment(spec)
        different = {key for key, value in shared.items() if env.get(key) != str(value)}
        assert not different, f"{name} lacks the shared settings {sorted(different)}"


def test_journeys_variables_are_settings_fields(compose: dict[str, Any], dockerfile: list[tuple[str, str]]) -> None:
    names = {key for spec in compose["services"].values() for key in environment(spec) if key.startswith(PREFIX)}
    names |= {key for key in compose[SHARED_ENV_KEY] if key.startswith(PREFIX)}
    for instruction, arguments in dockerfile:
        if instruction == "ENV":
            names |= {item.split("=", 1)[0] for item in shlex.split(arguments) if item.startswith(PREFIX)}
    assert Settings.model_config.get("env_prefix") == PREFIX
    unknown = sorted(name for name in names if name[len(PREFIX) :].lower() not in Settings.model_fields)
    assert not unknown, f"not settings of journeys.storage.settings.Settings (typo?): {unknown}"


def test_shared_settings_pass_production_validation(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith(PREFIX)]:
        monkeypatch.delenv(name)
    raw = compose[SHARED_ENV_KEY]
    assert re.fullmatch(r"\$\{JOURNEYS_API_KEY:\?[^}]*\}", raw["JOURNEYS_API_KEY"]), "the API key must be required"
    values = {key[len(PREFIX) :].lower(): interpolate(str(value)) for key, value in raw.items()}
    settings = Settings(_env_file=None, **values)  # raises on a value production refuses
    assert settings.environment == "production"
    assert settings.api_key == TEST_ENV["JOURNEYS_API_KEY"]
    assert settings.unsubscribe_secret == TEST_ENV["JOURNEYS_UNSUBSCRIBE_SECRET"]
    assert settings.postal_address == TEST_ENV["JOURNEYS_POSTAL_ADDRESS"]
    services = compose["services"]
    assert settings.smtp_host in services and services_by_image(services, "axllent/mailpit") == [settings.smtp_host]
    assert settings.smtp_port == 1025


def test_database_url_is_the_database_the_init_script_creates(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    url = make_url(compose[SHARED_ENV_KEY]["JOURNEYS_DATABASE_URL"])
    assert url.get_backend_name() == "postgresql"
    assert url.host in services and services_by_image(services, "postgres") == [url.host]
    assert (url.port or 5432) == 5432

    init_dirs = [src for src, dst in bind_mounts(services[url.host]) if str(dst) == "/docker-entrypoint-initdb.d"]
    assert len(init_dirs) == 1, "no init scripts mounted at /docker-entrypoint-initdb.d"
    sql = "\n".join(path.read_text() for path in sorted(init_dirs[0].glob("*.sql")))
    sql = re.sub(r"--[^\n]*", "", sql)
    roles = dict(re.findall(r"CREATE\s+(?:ROLE|USER)\s+(\w+)\s+(?:WITH\s+)?[^;]*?PASSWORD\s+'([^']*)'", sql, re.I))
    databases = dict(re.findall(r"CREATE\s+DATABASE\s+(\w+)\s+(?:WITH\s+)?OWNER\s*=?\s*(\w+)", sql, re.I))
    assert url.database in databases, f"the init scripts create no database {url.database!r}: {databases}"
    assert databases[url.database] == url.username, "the database belongs to another role than the app's"
    assert roles.get(url.username) == url.password, f"no role {url.username!r} with the URL's password"


def test_mounted_files_exist(services: dict[str, dict[str, Any]]) -> None:
    missing = []
    for name, spec in services.items():
        for source, _ in bind_mounts(spec):
            if not source.exists():
                missing.append(f"{name}: {source.relative_to(ROOT)}")
        for arg in argv(spec.get("entrypoint")) + argv(spec.get("command")):
            path = host_file(spec, arg)
            if path is not None and not path.is_file():
                missing.append(f"{name}: runs {arg}, but {path.relative_to(ROOT)} does not exist")
    assert not missing, "\n".join(missing)
