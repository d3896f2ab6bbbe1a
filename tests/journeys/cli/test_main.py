"""`journeys worker` refuses what would fail customers later, with a message and exit code 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from journeys.storage.settings import PROJECT_ROOT


def run_worker(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    journeys = Path(sys.executable).parent / "journeys"
    return subprocess.run(
        [str(journeys), "worker"],
        env={"PATH": os.environ["PATH"], "JOURNEYS_HOME": str(tmp_path / "home"),
             # nothing listens here: the checks must come before connecting
             "JOURNEYS_TEMPORAL_ADDRESS": "127.0.0.1:9", **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def test_a_template_without_a_category_stops_the_worker_at_start(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    (templates / "cart_reminder" / "template.toml").unlink()
    result = run_worker(tmp_path, JOURNEYS_TEMPLATES_DIR=str(templates))
    assert result.returncode == 2
    assert "refusing to start" in result.stderr
    assert f"template 'cart_reminder' declares no category: add {templates}/cart_reminder/template.toml" in result.stderr


def test_malformed_quiet_hours_are_an_invalid_setting(tmp_path: Path) -> None:
    result = run_worker(tmp_path, JOURNEYS_QUIET_HOURS="9pm to 8am")
    assert result.returncode == 2
    assert "invalid settings" in result.stderr and "expected HH:MM-HH:MM" in result.stderr


def test_a_missing_esp_credential_stops_the_worker_naming_the_setting(tmp_path: Path) -> None:
    result = run_worker(tmp_path, JOURNEYS_ESP="postmark,sendgrid", JOURNEYS_POSTMARK_SERVER_TOKEN="pm-token")
    assert result.returncode == 2
    assert "a setting is missing" in result.stderr and "JOURNEYS_SENDGRID_API_KEY" in result.stderr


def test_an_unknown_esp_is_an_invalid_setting(tmp_path: Path) -> None:
    result = run_worker(tmp_path, JOURNEYS_ESP="sendgird")
    assert result.returncode == 2 and "expected one or more of smtp, sendgrid" in result.stderr


def test_help_loads_neither_temporal_nor_the_database_nor_the_journeys() -> None:
    """`journeys --help` (and every command's parser) answers at once: a command's work is
    imported when it runs (it took 1.5 s here while the parser imported them all)."""
    probe = (
        "import sys, journeys.cli.main as m\n"
        "m.build_parser()\n"
        "print(sorted(n for n in ('temporalio', 'sqlalchemy', 'jinja2', 'workflows.registry', 'httpx') if n in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
