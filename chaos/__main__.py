"""``make chaos``: the promises under faults, on real parts.

Drives the real stack (API and worker processes as `journeys dev` runs them, a Temporal
dev server on a file, a PostgreSQL cluster of the suite's own, a real SMTP server and
loopback ESPs) through the scenarios in chaos/scenarios.py, then prints per scenario:
events accepted, emails expected, delivered, duplicates (counted at the sink by our
message id), lost, dead letters, and the time to drain. Exits 1 if any scenario lost
something or delivered something twice. Every scenario stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from chaos.harness import Outcome
from chaos.parts import PostgresCluster, log
from chaos.scenarios import SCENARIOS

DEFAULT_CUSTOMERS = {
    "two-apis": 200,
    "two-apis-sqlite": 200,
    "worker-kill-9": 200,
    "worker-kill-9-sqlite": 200,
    "temporal-away": 120,
    "postgres-restart": 120,
    "esp-30pct-5xx-429": 100,
    "esp-never-answers": 60,
}


def table(outcomes: list[Outcome]) -> str:
    header = ("scenario", "accepted", "expected", "delivered", "duplicates", "lost", "dead letters", "drain s", "")
    rows = [header] + [
        (o.scenario, str(o.accepted), str(o.expected), str(o.delivered), str(o.duplicates), str(o.lost),
         str(o.dead_letters), f"{o.drain_seconds:.1f}", "ok" if o.ok else "FAILED")
        for o in outcomes
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    notes = [f"  {o.scenario}: {note}" for o in outcomes for note in o.notes]
    return "\n".join(lines + ([""] + notes if notes else []))


async def run(names: list[str], scale: float, keep: bool) -> list[Outcome]:
    root = Path(tempfile.mkdtemp(prefix="journeys-chaos-"))
    postgres = PostgresCluster(root / "postgres")
    postgres.create()
    postgres.start()
    log(f"PostgreSQL cluster of our own on 127.0.0.1:{postgres.port}; work in {root}")
    outcomes = []
    try:
        for name in names:
            started = time.monotonic()
            customers = max(10, int(DEFAULT_CUSTOMERS[name] * scale))
            log(f"{name}: {customers} customers")
            outcome = await SCENARIOS[name](root, postgres, customers)
            log(f"{name}: {'ok' if outcome.ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
            outcomes.append(outcome)
    finally:
        postgres.stop("immediate")
        if not keep and all(o.ok for o in outcomes):
            shutil.rmtree(root, ignore_errors=True)
        else:
            log(f"logs kept in {root}")
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], metavar="SCENARIO",
                        help=f"which to run (default: all): {', '.join(SCENARIOS)}")
    parser.add_argument("--scale", type=float, default=1.0, help="customers per scenario, as a share of the defaults")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data directories")
    args = parser.parse_args()
    outcomes = asyncio.run(run(args.scenarios or list(SCENARIOS), args.scale, args.keep))
    print("\nJourneys fault suite: real processes, real SMTP and HTTP sinks, PostgreSQL and Temporal stopped on purpose")
    print(table(outcomes))
    sys.stdout.flush()
    # The Temporal SDK's runtime can abort at interpreter exit (sdk-python#300).
    os._exit(0 if outcomes and all(o.ok for o in outcomes) else 1)


if __name__ == "__main__":
    main()
