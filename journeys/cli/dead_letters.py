"""``journeys dead-letters``: list, retry or discard what needs an operator.

Works on the database directly (the API need not run): a retried event is back in the
outbox and the API's relay dispatches it within seconds; a retried message is a one-off
send through the same outbox.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from journeys.operations.dead_letters import DeadLetter

# What the command does is imported when it runs: `journeys --help` and the other commands
# need not load the database, the journeys and Temporal's client first.


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "dead-letters",
        help="list, retry or discard events and messages that need an operator",
        description="Events Temporal refused and messages that failed or may have gone out (unknown). "
        "Ids are e<n> for events and m<id> for messages, as `list` shows them.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the unresolved dead letters, newest first")
    listing.add_argument("--kind", choices=["event", "message"])
    listing.add_argument("--customer", help="only this customer id")
    listing.add_argument("--journey", help="only this journey")
    listing.add_argument("--since", type=datetime.fromisoformat, help="last try at or after (ISO 8601)")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    for action, what in (("retry", "dispatch the event, or send the message, again"), ("discard", "set them aside for good")):
        one = actions.add_parser(action, help=what)
        one.add_argument("ids", nargs="+", metavar="ID")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    from journeys.operations import dead_letters
    from journeys.operations.dead_letters import NotADeadLetter
    from journeys.storage.database import Database
    from journeys.storage.settings import get_settings
    from workflows.registry import discover

    settings = get_settings()
    db = Database(settings.resolved_database_url)
    routes = discover(settings.journey_packages)
    try:
        if args.action == "list":
            found = await dead_letters.list_dead_letters(
                db, routes, kind=args.kind, customer_id=args.customer, journey=args.journey, since=args.since, limit=args.limit
            )
            if args.json:
                for letter in found:
                    print(letter.model_dump_json())
            else:
                print(_table(found))
            return 0
        failed = 0
        for letter_id in args.ids:
            try:
                if args.action == "retry":
                    letter, _ = await dead_letters.retry(db, routes, letter_id)
                else:
                    letter = await dead_letters.discard(db, routes, letter_id)
            except NotADeadLetter:
                print(f"{letter_id}: no unresolved dead letter with this id")
                failed += 1
                continue
            print(f"{letter_id}: {'retried' if args.action == 'retry' else 'discarded'} ({letter.kind} of customer {letter.customer_id})")
        return 1 if failed else 0
    finally:
        await db.dispose()


def _table(found: list[DeadLetter]) -> str:
    if not found:
        return "no dead letters"
    rows = [("ID", "KIND", "STATUS", "CUSTOMER", "JOURNEY", "WHAT", "TRIES", "LAST TRY", "REASON")]
    for letter in found:
        what = letter.event_type if letter.kind == "event" else f"{letter.template} ({letter.step or 'one-off'})"
        last = letter.last_try.strftime("%Y-%m-%d %H:%M:%S") if letter.last_try else "-"
        reason = (letter.reason or "").replace("\n", " ")
        rows.append((letter.id, letter.kind, letter.status, letter.customer_id, ",".join(letter.journeys) or "-",
                     what or "-", str(letter.attempts), last, reason[:80] + ("…" if len(reason) > 80 else "")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows)

