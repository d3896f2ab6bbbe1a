"""The development secrets (API key, unsubscribe secret) are made once, whoever asks first,
and are private from the first byte."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from journeys.storage.settings import Settings


def test_processes_asking_at_the_same_moment_get_one_secret(tmp_path: Path) -> None:
    with ThreadPoolExecutor(16) as pool:
        secrets = set(pool.map(lambda _: Settings(home=tmp_path).resolved_unsubscribe_secret(), range(64)))
    assert len(secrets) == 1, "API and worker sign and check with the same secret"
    assert (tmp_path / "unsubscribe_secret").read_text().strip() in secrets
    assert [p.name for p in tmp_path.iterdir()] == ["unsubscribe_secret"], "no draft left behind"


def test_the_secret_file_is_only_readable_by_its_owner(tmp_path: Path) -> None:
    Settings(home=tmp_path).resolved_api_key()
    mode = stat.S_IMODE((tmp_path / "api_key").stat().st_mode)
    assert mode == 0o600
