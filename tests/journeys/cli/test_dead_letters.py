"""`journeys dead-letters`: an operator lists, retries and discards from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from journeys.storage.database import Database
from journeys.storage.migrate import upgrade
from tests.journeys.operations.test_dead_letters import dead_event, dead_message


def journeys(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).parent / "journeys"
    return subprocess.run(
        [str(command), "dead-letters", *args],
        env={"PATH": os.environ["PATH"], "JOURNEYS_HOME": str(tmp_path / "home"), "JOURNEYS_DATABASE_URL": f"sqlite:///{tmp_path / 'j.db'}"},
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )


async def test_list_retry_and_discard_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    upgrade(url)
    db = Database(url)
    event = await dead_event(db)
    message = await dead_message(db, "abc123", "unknown")
    await db.dispose()

    listed = journeys(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    assert header.split()[:4] == ["ID", "KIND", "STATUS", "CUSTOMER"]
    assert [line.split()[0] for line in lines] == [message, event]
    assert "user.signed_up" in lines[1] and "Blob data size exceeds limit" in lines[1]

    as_json = [json.loads(line) for line in journeys(tmp_path, "list", "--kind", "message", "--json").stdout.splitlines()]
    assert [(d["id"], d["status"], d["template"]) for d in as_json] == [(message, "unknown", "welcome")]

    retried = journeys(tmp_path, "retry", event)
    assert retried.returncode == 0 and f"{event}: retried (event of customer ann)" in retried.stdout
    discarded = journeys(tmp_path, "discard", message, "m-nothing")
    assert discarded.returncode == 1, "one of the ids was no dead letter"
    assert f"{message}: discarded" in discarded.stdout and "m-nothing: no unresolved dead letter" in discarded.stdout
    assert journeys(tmp_path, "list").stdout.strip() == "no dead letters"


def test_the_command_explains_itself() -> None:
    command = Path(sys.executable).parent / "journeys"
    shown = subprocess.run([str(command), "dead-letters", "--help"], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and "retry" in shown.stdout and "e<n> for events and m<id> for messages" in shown.stdout
