"""Finding journeys and routing events to them; bad journey code is refused early."""

import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from workflows.registry import JourneyDefinitionError, discover


def journeys_package(tmp_path: Path, **modules: str) -> str:
    name = f"jp_{uuid.uuid4().hex[:8]}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in modules.items():
        (package / f"{module}.py").write_text(textwrap.dedent(source))
    sys.path.insert(0, str(tmp_path))
    return name


def test_shipped_journeys_are_found_and_routed() -> None:
    registry = discover()
    assert set(registry.journeys) == {"welcome", "abandoned_cart", "message"}
    assert [s.name for s in registry.route("user.signed_up").starts] == ["welcome"]
    assert [s.name for s in registry.route("user.activated").signals] == ["welcome"], "found in wait_for(...)"
    assert [s.name for s in registry.route("order.placed").signals] == ["abandoned_cart"], "exit_on"
    assert not registry.cares_about("page.viewed")


def test_a_computed_event_type_without_listens_to_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    package = journeys_package(
        tmp_path,
        dynamic="""
        from workflows.engine import Event, Journey, journey


        @journey(trigger="a.happened")
        class Dynamic(Journey):
            async def steps(self, event: Event) -> None:
                kind = event.properties["next"]
                await self.wait_for(kind)
        """,
    )
    with pytest.raises(JourneyDefinitionError, match=r"dynamic\.py:9: wait_for\(\) is given a computed event type"):
        discover(package)


def test_a_journey_without_the_decorator_or_steps_is_refused(tmp_path: Path) -> None:
    undecorated = journeys_package(
        tmp_path,
        plain="""
        from workflows.engine import Journey


        class Forgotten(Journey):
            async def steps(self, event) -> None:
                pass
        """,
    )
    with pytest.raises(JourneyDefinitionError, match="has no @journey"):
        discover(undecorated)
    stepless = journeys_package(
        tmp_path,
        empty="""
        from workflows.engine import Journey, journey


        @journey(trigger="x.y")
        class Empty(Journey):
            pass
        """,
    )
    with pytest.raises(JourneyDefinitionError, match="has no `async def steps"):
        discover(stepless)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("now = datetime.now()", "calls datetime.now(), which reads the wall clock; use self.now()"),
        ("import httpx", "imports httpx, which does network I/O; do it in an activity"),
        ("data = open('/etc/hosts').read()", "calls open(), which does file I/O"),
        ("import random", "imports random, which is not deterministic"),
        ("time.sleep(1)", "calls time.sleep(), which blocks the worker"),
        ("from journeys.storage.database import Database", "imports journeys.storage.database, which runs outside the workflow sandbox"),
        ("import activities.deliver", "imports activities.deliver, which runs outside the workflow sandbox"),
        ("from journeys.contracts.events import Event as E", None),
        # Aliases do not hide a call (journeys run unsandboxed: the static checks are the guard).
        ("from time import time as clock; clock()", "calls time.time(), which reads the wall clock"),
        ("import datetime as dt; dt.datetime.now()", "calls datetime.datetime.now(), which reads the wall clock"),
        ("from datetime import datetime as moment; moment.now()", "calls datetime.now(), which reads the wall clock"),
        ("global counter", "rebinds a global, which every run in the worker shares"),
    ],
)
def test_io_and_wall_clock_in_a_journey_are_refused_naming_file_and_line(tmp_path: Path, line: str, expected: str | None) -> None:
    package = journeys_package(
        tmp_path,
        sneaky=f"""
        import time
        from datetime import datetime

        from workflows.engine import Event, Journey, journey


        @journey(trigger="a.b")
        class Sneaky(Journey):
            async def steps(self, event: Event) -> None:
                {line}
        """,
    )
    if expected is None:  # allowed: the contracts cross the sandbox boundary by design
        assert "sneaky" in discover(package).journeys
        return
    with pytest.raises(JourneyDefinitionError) as raised:
        discover(package)
    assert f"sneaky.py:11: journey code {expected}" in str(raised.value)


def test_a_journey_that_sends_an_unknown_template_is_refused_at_worker_start(tmp_path: Path) -> None:
    package = journeys_package(
        tmp_path,
        typo="""
        from workflows.engine import Event, Journey, journey


        @journey(trigger="a.b")
        class Typo(Journey):
            async def steps(self, event: Event) -> None:
                await self.send("welcom")
        """,
    )
    registry = discover(package)
    with pytest.raises(JourneyDefinitionError, match=r"typo\.py:8: journey 'typo' sends unknown template 'welcom'"):
        registry.check_templates({"welcome", "getting_started"})
    discover().check_templates({"welcome", "getting_started", "cart_reminder"})  # the shipped ones are fine


def test_a_journey_without_a_trigger_is_refused() -> None:
    from workflows.engine import journey

    with pytest.raises(ValueError, match="at least one trigger"):
        journey(trigger=[])
