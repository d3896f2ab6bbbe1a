"""The fault scenarios, each bounded in time: what they break, and when."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from chaos.harness import Outcome, scenario
from chaos.parts import PostgresCluster, log
from chaos.sinks import FakeEsp, Mailbox, SmtpSink


async def two_api_processes(root: Path, postgres: PostgresCluster, customers: int, *, sqlite: bool = False) -> Outcome:
    """Customers sign up through one API process and, right after its 202, activate
    through the other: every journey must get both, in that order. On SQLite the two APIs
    and the worker take turns at one file's write lock (journeys/storage/sqlite_inline.py)."""
    mailbox = Mailbox()
    name = "two-apis-sqlite" if sqlite else "two-apis"
    with SmtpSink(mailbox) as sink:
        async with scenario(name, root, postgres, mailbox, {"smtp_port": str(sink.port)}, apis=2, sqlite=sqlite) as run:
            who = run.customers(customers)
            await run.drive(who, per_second=400, apis=("api1", "api2"))
            await run.drain(who)
            return run.outcome


async def worker_killed(
    root: Path, postgres: PostgresCluster, customers: int, kills: int = 10, *, sqlite: bool = False
) -> Outcome:
    """The worker is killed with SIGKILL in the middle of sends, again and again, while the
    SMTP server is slow to confirm DATA: every message is sent once, or set aside as
    unknown (it may have gone out), never twice. On SQLite a kill may land mid-commit."""
    mailbox = Mailbox()
    name = "worker-kill-9-sqlite" if sqlite else "worker-kill-9"
    with SmtpSink(mailbox, confirm_delay=0.3) as sink:
        async with scenario(name, root, postgres, mailbox, {"smtp_port": str(sink.port)}, sqlite=sqlite) as run:
            who = run.customers(customers)

            async def killer() -> None:
                for n in range(kills):
                    await asyncio.sleep(1.5)
                    run.journeys.kill("worker")
                    run.journeys.start("worker")
                log(f"{name}: killed the worker {kills} times")

            await asyncio.gather(run.drive(who, per_second=customers / 12), killer())
            await run.drain(who)
            run.outcome.notes.append(f"worker killed {kills} times mid-send")
            return run.outcome


async def temporal_away(root: Path, postgres: PostgresCluster, customers: int, away: float = 10.0) -> Outcome:
    """The Temporal dev server stops for ``away`` seconds mid-stream and starts again on
    its file: the API keeps answering 202, and everything reaches the journeys, in order."""
    mailbox = Mailbox()
    with SmtpSink(mailbox) as sink:
        async with scenario("temporal-away", root, postgres, mailbox, {"smtp_port": str(sink.port)}) as run:
            who = run.customers(customers)

            async def outage() -> None:
                await asyncio.sleep(5)
                run.temporal.stop()
                log(f"temporal-away: Temporal stopped for {away:.0f} s")
                await asyncio.sleep(away)
                await run.temporal.start()
                log("temporal-away: Temporal is back")

            await asyncio.gather(run.drive(who, per_second=customers / 20), outage())
            await run.drain(who)
            run.outcome.notes.append(f"Temporal stopped {away:.0f} s")
            return run.outcome


async def database_restarted(root: Path, postgres: PostgresCluster, customers: int, away: float = 5.0) -> Outcome:
    """PostgreSQL stops mid-stream and starts again: meanwhile the API answers 503 with
    Retry-After (the client sends again), and nothing it accepted is lost."""
    mailbox = Mailbox()
    with SmtpSink(mailbox) as sink:
        async with scenario("postgres-restart", root, postgres, mailbox, {"smtp_port": str(sink.port)}) as run:
            who = run.customers(customers)

            async def restart() -> None:
                await asyncio.sleep(4)
                await asyncio.to_thread(postgres.stop, "fast")
                log(f"postgres-restart: PostgreSQL stopped for {away:.0f} s")
                await asyncio.sleep(away)
                await asyncio.to_thread(postgres.start)
                log("postgres-restart: PostgreSQL is back")

            await asyncio.gather(run.drive(who, per_second=customers / 15), restart())
            await run.drain(who)
            return run.outcome


async def flaky_esp(root: Path, postgres: PostgresCluster, customers: int) -> Outcome:
    """SendGrid answers 30% of sends 503 or 429 with Retry-After; Postmark is the backup.
    Sends that provably did not go out move on; none is sent twice."""
    mailbox = Mailbox()
    with FakeEsp("sendgrid", mailbox, failing=0.3) as primary, FakeEsp("postmark", mailbox) as backup:
        async with scenario("esp-30pct-5xx-429", root, postgres, mailbox, _esps(primary, backup)) as run:
            who = run.customers(customers)
            await run.drive(who, per_second=customers / 8)
            await run.drain(who)
            run.outcome.notes.append(f"sendgrid refused {primary.refused} of {primary.requests}; postmark took {backup.requests}")
            return run.outcome


async def silent_esp(root: Path, postgres: PostgresCluster, customers: int) -> Outcome:
    """SendGrid takes every email and never answers; Postmark is the backup. A send that
    may have been taken is never given to the backup (unknown, a dead letter); once
    SendGrid's circuit opens, the next ones go to Postmark."""
    mailbox = Mailbox()
    with FakeEsp("sendgrid", mailbox, hang=True) as primary, FakeEsp("postmark", mailbox) as backup:
        async with scenario("esp-never-answers", root, postgres, mailbox, _esps(primary, backup)) as run:
            who = run.customers(customers)
            await run.drive(who, per_second=customers / 15)
            await run.drain(who)
            run.outcome.notes.append(f"sendgrid took {primary.requests} without answering; postmark took {backup.requests}")
            return run.outcome


def _esps(primary: FakeEsp, backup: FakeEsp) -> dict[str, str]:
    return {
        "esp": "sendgrid,postmark",
        "sendgrid_api_key": "SG.chaos",
        "sendgrid_base_url": primary.url,
        "postmark_server_token": "chaos-token",
        "postmark_base_url": backup.url,
        "esp_failure_threshold": "5",
        "esp_cooldown_seconds": "60",
    }


SCENARIOS: dict[str, Callable[[Path, PostgresCluster, int], Awaitable[Outcome]]] = {
    "two-apis": two_api_processes,
    "two-apis-sqlite": partial(two_api_processes, sqlite=True),
    "worker-kill-9": worker_killed,
    "worker-kill-9-sqlite": partial(worker_killed, sqlite=True),
    "temporal-away": temporal_away,
    "postgres-restart": database_restarted,
    "esp-30pct-5xx-429": flaky_esp,
    "esp-never-answers": silent_esp,
}
