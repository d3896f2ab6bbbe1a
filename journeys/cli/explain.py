"""``journeys explain CUSTOMER``: the customer's timeline as a table, "why did they get
this email?" from a shell (journeys/operations/timeline.py builds it).

Reads the database directly; asks Temporal where running journeys wait now, and carries
on without it if it does not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from journeys.operations.timeline import Timeline, TimelineItem


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "explain",
        help="a customer's story: events, journeys, every send and why, what the ESP and tracking saw",
        description="Print everything Journeys recorded about a customer (and every id merged into them), "
        "in time order, each with its event, workflow and message ids.",
    )
    parser.add_argument("customer", metavar="CUSTOMER", help="the customer id")
    parser.add_argument("--limit", type=int, default=200, help="the latest N items (default 200)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--no-temporal", action="store_true", help="do not ask Temporal where journeys wait now")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    code = asyncio.run(_run(args))
    # The Temporal SDK may abort at interpreter exit after a connection (sdk-python#300).
    sys.stdout.flush()
    os._exit(code)


async def _run(args: argparse.Namespace) -> int:
    # Imported when the command runs, not for `journeys --help` and the other commands.
    from journeys.operations.timeline import timeline
    from journeys.storage.database import Database
    from journeys.storage.settings import get_settings
    from journeys.storage.temporal import connect
    from workflows.registry import discover

    settings = get_settings()
    db = Database(settings.resolved_database_url)
    try:
        client = None if args.no_temporal else await connect(settings, lazy=True)
        story = await timeline(db, client, discover(settings.journey_packages), args.customer, max(1, args.limit))
    finally:
        await db.dispose()
    if not story.items:
        print(f"nothing recorded for customer {args.customer!r}")
        return 1
    if args.json:
        for item in story.items:
            print(item.model_dump_json())
    else:
        print(table(story))
    return 0


def table(story: Timeline) -> str:
    head = f"customer {story.customer_id}" + (f" (also known as {', '.join(story.ids[1:])})" if len(story.ids) > 1 else "")
    rows = [("WHEN (UTC)", "WHAT", "IDS")]
    rows += [(item.at.strftime("%Y-%m-%d %H:%M:%S"), item.summary, _ids(item)) for item in story.items]
    width = max(len(r[0]) for r in rows)
    what = min(90, max(len(r[1]) for r in rows))
    lines = [head, *("  ".join((r[0].ljust(width), _cut(r[1], what).ljust(what), r[2])).rstrip() for r in rows)]
    if story.truncated:
        lines.append(f"(the latest {len(story.items)} items; --limit for more)")
    return "\n".join(lines)


def _ids(item: TimelineItem) -> str:
    parts = [f"event={item.event_id}" if item.event_id else "", f"message={item.message_id}" if item.message_id else "",
             f"workflow={item.workflow_id}" if item.workflow_id else ""]
    return " ".join(p for p in parts if p)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
