"""The tables analytics and the customer timeline read (journeys/analytics/).

Facts, one row each: a journey run (entered, how it ended), an email event (an ESP's
report, a tracking hit, an unsubscribe), with the machine that made it if one did. And
the roll-up every figure is read from: hourly counters per journey, step and variant,
kept current in the same transaction as the fact that moves them, so a report over a
million messages reads a few thousand rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from journeys.storage.tables import UtcDateTime


class JourneyRunRow(SQLModel, table=True):
    """One entry into a journey and, once it is over, how it ended."""

    __tablename__ = "journey_runs"
    __table_args__ = (
        # The trigger event's id names the entry: event ids are unique in the event store.
        UniqueConstraint("journey", "entry_id", name="uq_journey_runs"),
        Index("ix_journey_runs_journey_entered", "journey", "entered_at"),
        Index("ix_journey_runs_customer", "customer_id", "entered_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    journey: str = Field(max_length=100)
    customer_id: str = Field(max_length=200)
    entry_id: str = Field(max_length=200)  # the trigger event's id
    workflow_id: str = Field(max_length=1000)
    entered_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    outcome: str | None = Field(default=None, max_length=20)  # completed | exited
    exit_event: str | None = Field(default=None, max_length=100)


class MessageEventRow(SQLModel, table=True):
    """What happened to a sent email after it left: delivered, opened, clicked, bounced,
    complained, unsubscribed; from the ESP's webhook, our own tracking, or the unsubscribe
    link. ``machine`` names a scanner or an image proxy when one made the hit."""

    __tablename__ = "message_events"
    __table_args__ = (
        Index("ix_message_events_message", "message_id", "occurred_at"),
        Index("ix_message_events_customer", "customer_id", "occurred_at"),
    )

    id: str = Field(primary_key=True, max_length=200)  # derived from the source's own id: once
    message_id: str = Field(max_length=64)
    customer_id: str = Field(max_length=200)
    type: str = Field(max_length=30)  # email.delivered | email.opened | email.clicked | ...
    source: str = Field(max_length=20)  # tracking | unsubscribe | sendgrid | mailgun | ...
    machine: str | None = Field(default=None, max_length=20)  # scanner | proxy
    detail: str | None = Field(default=None, sa_column=Column(Text()))  # why a machine; the ESP's reason
    url: str | None = Field(default=None, sa_column=Column(Text()))
    occurred_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class JourneyStatRow(SQLModel, table=True):
    """An hourly counter: ``metric`` for ``journey`` (``step`` "" for the journey itself),
    overall (``split`` and ``variant`` "") and per A/B variant. The hour is the entry's
    (journey figures) or the message's (step figures): a cohort, so what happens later
    is counted with the entries or sends it follows."""

    __tablename__ = "journey_stats"
    __table_args__ = (
        # A report reads only this index (count included), in its grouping order: one
        # journey's month of a million messages in ~15 ms on SQLite instead of ~110 ms.
        Index("ix_journey_stats_report", "journey", "split", "step", "variant", "metric", "hour", "count"),
    )

    journey: str = Field(primary_key=True, max_length=100)
    step: str = Field(primary_key=True, max_length=200)
    split: str = Field(primary_key=True, max_length=100)
    variant: str = Field(primary_key=True, max_length=100)
    hour: datetime = Field(sa_column=Column(UtcDateTime(), primary_key=True))
    metric: str = Field(primary_key=True, max_length=140)
    count: int = 0
