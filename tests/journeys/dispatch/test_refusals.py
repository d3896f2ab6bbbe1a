"""Only Temporal refusing an event makes it a dead letter: not Temporal being away, not a
namespace missing a search attribute, not the database having a moment; refusals are
counted apart from other failures. And a long hand-over keeps its claim."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from journeys.contracts.events import Event
from journeys.dispatch import claims, outbox as outbox_module
from journeys.dispatch.failures import refused
from journeys.dispatch.outbox import Outbox
from journeys.intake.event_store import store_events
from journeys.storage.database import Database
from journeys.storage.tables import DispatchClaimRow, DispatchRow, utcnow
from journeys.storage.temporal import DATA_CONVERTER
from tests.conftest import free_port
from tests.journeys.dispatch.test_order import QUEUE, make_due, signals_received
from workflows.registry import Registry


@pytest.mark.parametrize(
    ("error", "is_refusal"),
    [
        (RPCError("Blob data size exceeds limit.", RPCStatusCode.INVALID_ARGUMENT, b""), True),
        (RPCError("grpc: received message after decompression larger than max 4194304", RPCStatusCode.RESOURCE_EXHAUSTED, b""), True),
        (RPCError("WorkflowId exceeds maximum allowed length", RPCStatusCode.INVALID_ARGUMENT, b""), True),
        (RPCError("Namespace default has no mapping defined for search attribute CustomerKey", RPCStatusCode.INVALID_ARGUMENT, b""), False),
        (RPCError("namespace rate limit exceeded", RPCStatusCode.RESOURCE_EXHAUSTED, b""), False),
        (RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b""), False),
        (RuntimeError("Failed client connect: Server connection error"), False),
        (OperationalError("INSERT", {}, Exception("database is locked")), False),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), True),
    ],
)
def test_only_a_refusal_of_the_event_counts_toward_a_dead_letter(error: BaseException, is_refusal: bool) -> None:
    assert refused(error) is is_refusal


async def test_tries_while_temporal_was_away_do_not_count_as_refusals(
    db: Database, dev_server: WorkflowEnvironment, journey_registry: Registry
) -> None:
    customer = f"count-{free_port()}"
    poison = Event.model_construct(id=f"{customer}-p", type="user.signed_up", customer_id=customer, properties={"x": "y" * 2_500_000}, timestamp=None)
    await store_events(db, [poison])
    nowhere = await Client.connect(f"127.0.0.1:{free_port()}", data_converter=DATA_CONVERTER, lazy=True)
    for _ in range(4):
        await Outbox(db, nowhere, journey_registry, QUEUE, owner="down", max_attempts=3).dispatch([poison])
        await make_due(db)
    await Outbox(db, dev_server.client, journey_registry, QUEUE, owner="up", max_attempts=3).dispatch([poison])
    async with db.session() as session:
        row = (await session.exec(select(DispatchRow).where(DispatchRow.event_id == poison.id))).one()
    assert (row.attempts, row.refusals, row.dead_at) == (5, 1, None), "one refusal so far: not yet a dead letter"


async def test_a_namespace_without_the_search_attributes_makes_no_dead_letters(db: Database, journey_registry: Registry) -> None:
    from journeys.contracts import search_attributes as sa
    from journeys.devstack.binaries import temporal_cli

    env = await WorkflowEnvironment.start_local(  # as a namespace set up before CustomerKey existed
        data_converter=DATA_CONVERTER, dev_server_existing_path=temporal_cli(), search_attributes=(sa.CUSTOMER_ID, sa.JOURNEY, sa.JOURNEY_STEP)
    )
    try:
        customer = f"nosa-{free_port()}"
        [event] = (await store_events(db, [Event(id=f"{customer}-1", type="user.signed_up", customer_id=customer)])).accepted
        for _ in range(3):
            await Outbox(db, env.client, journey_registry, QUEUE, owner="nosa", max_attempts=2).dispatch([event])
            await make_due(db)
        async with db.session() as session:
            row = (await session.exec(select(DispatchRow).where(DispatchRow.event_id == event.id))).one()
        assert row.dead_at is None and row.refusals == 0 and "search attribute" in (row.last_error or "")
    finally:
        await env.shutdown()


async def test_a_long_host_name_still_claims(db: Database, dev_server: WorkflowEnvironment, journey_registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module.socket, "gethostname", lambda: "ip-10-120-134-201.ap-southeast-2.compute.internal")
    outbox = Outbox(db, dev_server.client, journey_registry, QUEUE)
    assert len(outbox.owner) <= 64
    customer = f"host-{free_port()}"
    stored = await store_events(db, [Event(id=f"{customer}-1", type="user.signed_up", customer_id=customer)])
    assert await outbox.dispatch(stored.accepted) == 1


async def test_a_hand_over_longer_than_the_lease_keeps_its_claim(
    db: Database, dev_server: WorkflowEnvironment, journey_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (or an erasure) must not take a customer whose events are still
    being handed over, however long that takes."""
    monkeypatch.setattr(outbox_module, "CLAIM_LEASE", timedelta(seconds=0.6))
    customer = f"slow-{free_port()}"
    events = [Event(id=f"{customer}-{n}", type="user.activated" if n else "user.signed_up", customer_id=customer) for n in range(8)]
    await store_events(db, events)
    outbox = Outbox(db, dev_server.client, journey_registry, QUEUE, owner="slow")
    real = outbox.dispatcher.dispatch

    async def slowly(event: Event, *args: object) -> object:
        await asyncio.sleep(0.25)
        return await real(event, *args)  # type: ignore[arg-type]

    outbox.dispatcher.dispatch = slowly  # type: ignore[method-assign]
    passing = asyncio.create_task(outbox.dispatch(events[:1]))
    await asyncio.sleep(1.2)  # twice the lease
    now = utcnow()
    assert await claims.take(db, "intruder", [customer], now, now + timedelta(seconds=5)) == set(), "still held"
    assert await passing == 8
    async with db.session() as session:
        assert (await session.exec(select(DispatchClaimRow))).all() == []
    assert len(await signals_received(dev_server.client, f"journey:welcome:{customer}")) == 8
