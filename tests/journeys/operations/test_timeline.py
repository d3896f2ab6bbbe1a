"""The customer's story in one call: the welcome journey run on the time-skipping server,
then read back as the timeline, the API's answer and `journeys explain`'s table."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from journeys.analytics.message_facts import record_message_event
from journeys.contracts.email_event_types import DELIVERED, OPENED
from journeys.operations.timeline import timeline
from journeys.storage.tables import MessageRow
from journeys.testkit import JourneyEnv


async def story(journey_env: JourneyEnv) -> None:
    await journey_env.customer("tia", email="tia@example.com", attributes={"first_name": "Tia"})
    await journey_env.emit("user.signed_up", customer="tia", id="signup-tia")
    await journey_env.unsubscribe("tia", "product")
    await journey_env.advance(days=2, hours=1)
    [welcome] = [m for m in await journey_env.messages("tia") if m.template == "welcome"]
    # On the journeys' clock (Temporal's), which earlier tests skipped ahead of the wall clock.
    sent_at = datetime.fromisoformat(next(h["at"] for h in welcome.history if h["status"] == "sent"))
    async with journey_env.db.session() as session:
        for seconds, (event_id, type, machine) in enumerate((("d1", DELIVERED, None), ("o1", OPENED, "proxy")), 1):
            await record_message_event(
                journey_env.db, session, welcome, event_id=event_id, type=type, source="sendgrid" if machine is None else "tracking",
                occurred_at=sent_at + timedelta(seconds=seconds), machine=machine, detail="Gmail's image proxy" if machine else None,
            )
        await session.commit()


async def test_the_timeline_tells_why_each_email_went_or_did_not(journey_env: JourneyEnv) -> None:
    await story(journey_env)
    told = await timeline(journey_env.db, None, journey_env.registry, "tia")
    summaries = [item.summary for item in told.items]
    kinds = [item.kind for item in told.items]
    assert kinds[:3] == ["event", "entered", "send"], summaries
    assert summaries[0] == "event user.signed_up received" and told.items[0].event_id == "signup-tia"
    entered = told.items[1]
    assert entered.workflow_id == "journey:welcome:tia" and entered.event_id == "signup-tia"
    sent = next(i for i in told.items if i.kind == "send" and i.status == "sent")
    assert sent.summary == "welcome (send:welcome) sent" and sent.workflow_id == "journey:welcome:tia" and sent.message_id
    refused = next(i for i in told.items if i.kind == "send" and i.status == "unsubscribed")
    assert refused.summary.startswith("getting_started (send:getting_started) not sent: unsubscribed - ")
    assert "product" in (refused.reason or "")
    emails = [i for i in told.items if i.kind == "email"]
    assert [e.summary for e in emails] == ["welcome delivered via sendgrid", "welcome opened by a proxy (Gmail's image proxy)"]
    assert told.items[-1].kind == "ended" and told.items[-1].summary == "welcome completed"
    assert [i.at for i in told.items] == sorted(i.at for i in told.items)


async def test_explain_prints_the_same_story_as_a_table(journey_env: JourneyEnv, tmp_path: Path) -> None:
    await story(journey_env)
    env = {**os.environ, "JOURNEYS_DATABASE_URL": journey_env.db.url, "JOURNEYS_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "journeys.cli", "explain", "tia", "--no-temporal"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "customer tia" and lines[1].split() == ["WHEN", "(UTC)", "WHAT", "IDS"]
    assert any("welcome (send:welcome) sent" in line and "workflow=journey:welcome:tia" in line for line in lines)
    missing = subprocess.run(
        [sys.executable, "-m", "journeys.cli", "explain", "nobody", "--no-temporal"], env=env, capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 1 and "nothing recorded for customer 'nobody'" in missing.stdout


async def test_merged_ids_tell_one_story(journey_env: JourneyEnv) -> None:
    await journey_env.customer("anon-7")
    await journey_env.emit("page.viewed", customer="anon-7", id="view-1")
    await journey_env.customer("uma", email="uma@example.com")
    await journey_env.merge("anon-7", into="uma")
    told = await timeline(journey_env.db, None, journey_env.registry, "uma")
    assert told.ids == ["uma", "anon-7"] and any(i.event_id == "view-1" for i in told.items)
    by_old_id = await timeline(journey_env.db, None, journey_env.registry, "anon-7")
    assert by_old_id.customer_id == "uma" and by_old_id.items == told.items, "the merged id tells its customer's story"
    assert not any(isinstance(i, MessageRow) for i in told.items)


async def test_a_timeline_cut_to_its_limit_says_so(journey_env: JourneyEnv) -> None:
    await journey_env.customer("vic")
    for n in range(5):
        await journey_env.emit("page.viewed", customer="vic", id=f"view-{n}")
    cut = await timeline(journey_env.db, None, journey_env.registry, "vic", limit=3)
    assert [i.event_id for i in cut.items] == ["view-2", "view-3", "view-4"] and cut.truncated
    whole = await timeline(journey_env.db, None, journey_env.registry, "vic", limit=5)
    assert len(whole.items) == 5 and not whole.truncated
