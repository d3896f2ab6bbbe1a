"""One scenario's stack and its bookkeeping: customers who sign up and then activate, sent
the way a careful client sends (a 503 is retried after its Retry-After), and at the end
what became of each: welcome delivered (or set aside as a dead letter), activation
received (the journey completed), copies counted at the sink."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlmodel import col, select
from temporalio.client import Client

from chaos.parts import API_KEY, Journeys, PostgresCluster, TemporalServer, journeys_env, log
from chaos.sinks import Mailbox
from journeys.storage.database import Database
from journeys.storage.migrate import upgrade
from journeys.storage.tables import MessageRow
from journeys.storage.temporal import DATA_CONVERTER

AUTH = {"Authorization": f"Bearer {API_KEY}"}
DEAD = ("unknown", "failed")


@dataclass
class Outcome:
    scenario: str
    accepted: int = 0
    expected: int = 0
    delivered: int = 0
    duplicates: int = 0
    lost: int = 0
    dead_letters: int = 0
    drain_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.duplicates == 0 and self.lost == 0


@dataclass
class Scenario:
    name: str
    home: Path
    database_url: str
    temporal: TemporalServer
    journeys: Journeys
    mailbox: Mailbox
    outcome: Outcome
    unavailable: int = 0  # 503s the client was answered (and retried)

    def customers(self, count: int) -> list[str]:
        return [f"{self.name}-{n}" for n in range(count)]

    async def request(self, http: httpx.AsyncClient, api: str, method: str, path: str, body: dict[str, Any], *, deadline: float) -> None:
        """Send until the API takes it: 503 and connection errors are retried, anything
        else but a 2xx is a failure of the suite."""
        while True:
            try:
                answer = await http.request(method, f"{self.journeys.url(api)}{path}", json=body, headers=AUTH)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code < 300:
                return
            if answer is not None and answer.status_code != 503:
                raise AssertionError(f"{method} {path}: {answer.status_code} {answer.text}")
            self.unavailable += answer is not None
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {path} not taken before the deadline")
            await asyncio.sleep(float(answer.headers.get("Retry-After", "1")) if answer is not None else 0.5)

    async def sign_up_and_activate(self, http: httpx.AsyncClient, customer: str, apis: tuple[str, str], deadline: float) -> None:
        first, second = apis
        await self.request(http, first, "PUT", f"/v1/customers/{customer}", {"email": f"{customer}@chaos.example"}, deadline=deadline)
        await self.request(http, first, "POST", "/v1/events", {"id": f"{customer}-signup", "type": "user.signed_up", "customer_id": customer}, deadline=deadline)
        self.outcome.accepted += 1
        # After the signup's 202, through the other API process when there are two.
        await self.request(http, second, "POST", "/v1/events", {"id": f"{customer}-activated", "type": "user.activated", "customer_id": customer}, deadline=deadline)
        self.outcome.accepted += 1

    async def drive(self, customers: list[str], *, per_second: float, apis: tuple[str, str] = ("api1", "api1"), timeout: float = 240) -> None:
        """Every customer signs up, then activates; ``per_second`` customers start each second."""
        self.outcome.expected = len(customers)
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as http:
            tasks = []
            for customer in customers:
                tasks.append(asyncio.create_task(self.sign_up_and_activate(http, customer, apis, deadline)))
                await asyncio.sleep(1 / per_second)
            await asyncio.gather(*tasks)

    async def drain(self, customers: list[str], timeout: float = 180) -> None:
        """Wait until every customer's welcome is accounted for and their journey has
        completed (it got the activation), or the deadline; then count."""
        started = time.monotonic()
        db = Database(self.database_url)
        client = await Client.connect(f"127.0.0.1:{self.temporal.port}", data_converter=DATA_CONVERTER)
        try:
            while True:
                missing = await self._missing(db, client, customers)
                if not missing or time.monotonic() - started > timeout:
                    break
                await asyncio.sleep(0.5)
            self.outcome.drain_seconds = time.monotonic() - started
            self.outcome.lost = len(missing)
            if missing:
                self.outcome.notes.append(f"lost: {sorted(missing)[:5]}")
            self.outcome.delivered = self.mailbox.delivered
            self.outcome.duplicates = self.mailbox.duplicates
            async with httpx.AsyncClient(timeout=10) as http:
                health = (await http.get(f"{self.journeys.url(next(iter(self.journeys.ports)))}/healthz")).json()
            self.outcome.dead_letters = int(health["dead_letters"])
            if self.unavailable:
                self.outcome.notes.append(f"{self.unavailable} answers were 503 + Retry-After, and retried")
        finally:
            await db.dispose()

    async def _missing(self, db: Database, client: Client, customers: list[str]) -> set[str]:
        async with db.session() as session:
            rows = (await session.exec(select(MessageRow.customer_id, MessageRow.status).where(col(MessageRow.template) == "welcome"))).all()
        dead = {customer for customer, status in rows if status in DEAD}
        delivered = {to.split("@")[0] for to in self.mailbox.recipients()}
        completed = set()
        async for execution in client.list_workflows('Journey = "welcome" AND ExecutionStatus = "Completed"'):
            completed.add(execution.id.removeprefix("journey:welcome:"))
        return {c for c in customers if c not in completed or (c not in delivered and c not in dead)}


@asynccontextmanager
async def scenario(
    name: str, root: Path, postgres: PostgresCluster, mailbox: Mailbox, settings: dict[str, str], *, apis: int = 1,
    sqlite: bool = False,
) -> AsyncIterator[Scenario]:
    """A fresh database on the suite's cluster (or, ``sqlite``, a SQLite file shared by every
    process, as ``make dev`` runs), a Temporal dev server, the API process(es) and a worker;
    stopped (and their logs kept) at the end."""
    home = root / name
    home.mkdir(parents=True)
    if sqlite:
        database_url = f"sqlite:///{home / 'journeys.db'}"
    else:
        database = f"chaos_{name.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(postgres.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        database_url = postgres.url.rsplit("/", 1)[0] + f"/{database}"
    upgrade(database_url)
    temporal = TemporalServer(home)
    await temporal.start()
    journeys = Journeys(home, journeys_env(home, database_url, temporal, **settings))
    for n in range(1, apis + 1):
        journeys.start(f"api{n}")
    journeys.start("worker")
    for n in range(1, apis + 1):
        await journeys.wait_api(f"api{n}")
    log(f"{name}: stack up ({apis} API process(es), logs in {home})")
    run = Scenario(name, home, database_url, temporal, journeys, mailbox, Outcome(name))
    try:
        yield run
    finally:
        journeys.stop_all()
        temporal.stop()
