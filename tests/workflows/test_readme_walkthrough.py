"""The README's "Your first journey" walkthrough, run exactly as written.

Its template, journey and test blocks are written into a temporary package and template
folder; the test function then runs against the real kit.
"""

from __future__ import annotations

import re
import shutil
import sys
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from journeys.storage.settings import PROJECT_ROOT
from journeys.testkit import running_journeys
from workflows.registry import discover


def walkthrough_blocks() -> dict[str, str]:
    readme = (PROJECT_ROOT / "README.md").read_text()
    return {
        name: body
        for name, body in re.findall(r"<!-- walkthrough:(\S+) -->\n```[a-z]*\n(.*?)```", readme, flags=re.S)
    }


async def test_the_walkthrough_journey_passes_its_own_test(time_skipping_env: WorkflowEnvironment, tmp_path: Path) -> None:
    blocks = walkthrough_blocks()
    assert set(blocks) == {"template.toml", "subject.txt", "body.txt", "body.html", "journey", "test"}

    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    (templates / "trial_ending").mkdir()
    for part in ("template.toml", "subject.txt", "body.txt", "body.html"):
        (templates / "trial_ending" / part).write_text(blocks[part])

    package = f"walkthrough_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "trial_ending.py").write_text(blocks["journey"])
    sys.path.insert(0, str(tmp_path))
    namespace: dict[str, object] = {}
    exec(compile(blocks["test"], "README walkthrough test", "exec"), namespace)  # noqa: S102
    test = namespace["test_nudge_at_ten_unless_upgraded"]

    registry = discover(package)
    async with running_journeys(time_skipping_env, registry, tmp_path / "home", templates_dir=templates) as kit:
        await test(kit)  # type: ignore[operator]
