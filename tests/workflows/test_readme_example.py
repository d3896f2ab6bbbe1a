"""The journey test from the README, verbatim (test_readme_shows_this_file keeps them equal)."""

from pathlib import Path

from journeys.testkit import JourneyEnv


async def test_getting_started_follows_when_not_activated(journey_env: JourneyEnv) -> None:
    await journey_env.customer("cat", attributes={"first_name": "Cat"})
    await journey_env.emit("user.signed_up", customer="cat")
    await journey_env.advance(days=2, minutes=1)
    assert journey_env.sent_to("cat") == ["welcome", "getting_started"]
    assert journey_env.emails_to("cat")[0].subject == "Welcome to Journeys, Cat!"


def test_readme_shows_this_file() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    source = Path(__file__).read_text()
    example = source[source.index("async def test_getting_started") : source.index("def test_readme_shows")].strip()
    assert example in readme, "README's 'Testing a journey' example differs from this test"
