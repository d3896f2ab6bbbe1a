"""Every shipped journey replays the saved histories of customers who went through it.

A change that would break customers who are in a journey right now (a step added,
removed or reordered without ``workflow.patched``) fails here, in ``make test``, not in
production. Histories: tests/workflows/histories/, made by record_histories.py.
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from journeys.storage.temporal import DATA_CONVERTER
from worker import workflow_runner
from workflows.registry import Registry, discover

HISTORIES = sorted((Path(__file__).resolve().parent / "histories").glob("*.json"))


def replayer(registry: Registry, sandboxed: bool = False) -> Replayer:
    return Replayer(workflows=registry.workflow_classes, data_converter=DATA_CONVERTER, workflow_runner=workflow_runner(sandboxed))


def history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_every_shipped_journey_has_saved_histories() -> None:
    for name in discover().journeys:
        assert any(p.stem.startswith(f"{name}_") for p in HISTORIES), f"no saved history for journey {name!r}"


@pytest.mark.parametrize("sandboxed", [False, True], ids=["unsandboxed", "sandboxed"])
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_current_code_replays_saved_history(path: Path, sandboxed: bool) -> None:
    result = await replayer(discover(), sandboxed).replay_workflow(history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def test_an_unpatched_reordering_is_caught() -> None:
    changed = discover("tests.workflows.changed_journeys")
    result = await replayer(changed).replay_workflow(
        history(next(p for p in HISTORIES if p.stem == "welcome_activated")), raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()


async def test_the_same_change_behind_workflow_patched_replays() -> None:
    patched = discover("tests.workflows.patched_journeys")
    welcome_histories = [path for path in HISTORIES if path.stem.startswith("welcome_")]
    assert welcome_histories, "no saved welcome_* history to replay: this test would pass without checking anything"
    for path in welcome_histories:
        result = await replayer(patched).replay_workflow(history(path), raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
