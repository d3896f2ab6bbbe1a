"""Database tables (SQLModel). Schema changes go through journeys/storage/migrations."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Dialect, Index, UniqueConstraint, false
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC datetimes")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        # PostgreSQL answers in the session's TimeZone, which need not be UTC.
        return value.astimezone(timezone.utc)


class CustomerRow(SQLModel, table=True):
    __tablename__ = "customers"

    id: str = Field(primary_key=True, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    timezone: str = Field(default="UTC", max_length=64)
    locale: str | None = Field(default=None, max_length=35)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class EventRow(SQLModel, table=True):
    """The event store. The primary key is the client's event id: a duplicate cannot land twice."""

    __tablename__ = "events"

    id: str = Field(primary_key=True, max_length=200)
    type: str = Field(max_length=100)
    customer_id: str = Field(max_length=200, index=True)
    properties: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    timestamp: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    received_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class DispatchRow(SQLModel, table=True):
    """The outbox: one row per stored event until Temporal has taken it (or it is set aside).

    ``id`` is the storing order. A customer's events are handed to Temporal in that order:
    a row goes only after every earlier pending row of the same customer has gone or has
    been set aside as a dead letter (``dead_at``; journeys/dispatch/outbox.py).
    """

    __tablename__ = "dispatches"
    __table_args__ = (
        Index("ix_dispatches_pending", "dispatched_at", "dead_at", "next_attempt_at"),
        Index("ix_dispatches_customer_pending", "customer_id", "dispatched_at", "dead_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(foreign_key="events.id", max_length=200, unique=True)
    customer_id: str = Field(max_length=200)
    attempts: int = 0  # every try so far (the backoff grows with it)
    refusals: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # tries Temporal refused the event
    # When the relay looks at the row; for a never-tried row only the relay's grace (the
    # process that stored it dispatches it at once).
    next_attempt_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    # Held until then by every dispatcher, and the customer's later rows with it (a
    # person's click waits out the scanners' burst window: journeys/intake/engagement.py).
    not_before: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    dispatched_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    last_error: str | None = None
    first_attempt_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    last_attempt_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    # A dead letter: failed for a reason that retrying does not cure; no longer holds back
    # the customer's later events. An operator retries or discards it (resolution).
    dead_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    resolution: str | None = Field(default=None, max_length=20)  # retried | discarded
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))


class DispatchClaimRow(SQLModel, table=True):
    """Which process dispatches a customer's events right now, and until when (a lease).

    One owner per customer at a time saves duplicate work; the order itself comes from
    every dispatcher going through a customer's pending rows oldest first and stopping
    at the first failure.
    """

    __tablename__ = "dispatch_claims"

    customer_id: str = Field(primary_key=True, max_length=200)
    owner: str = Field(max_length=64)
    until: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class MessageRow(SQLModel, table=True):
    """The send ledger. ``idempotency_key`` (workflow id + entry + step) guards against double sends."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_messages_idempotency_key"),
        Index("ix_messages_customer_claimed", "customer_id", "claimed_at"),
        Index("ix_messages_esp_message_id", "esp_message_id"),  # webhooks find the message by it
        Index("ix_messages_dead_letters", "status", "resolution"),  # failed / unknown, unresolved
    )

    id: str = Field(primary_key=True, max_length=64)
    # workflow id (up to 1,000 bytes) + entry event id + step: room for the longest of each
    idempotency_key: str = Field(max_length=2000)
    customer_id: str = Field(max_length=200, index=True)
    journey: str | None = Field(default=None, max_length=100)
    step: str | None = Field(default=None, max_length=200)
    template: str = Field(max_length=100)
    to_email: str | None = Field(default=None, max_length=320)
    subject: str | None = None
    # transactional | marketing, and the marketing topic: what the send policy applied
    category: str | None = Field(default=None, max_length=20)
    topic: str | None = Field(default=None, max_length=50)
    # sending -> sent | retrying | failed | unknown; decided without sending: skipped,
    # suppressed, unsubscribed, capped; deferred (quiet hours, cap) -> sending | cancelled
    status: str = Field(max_length=20)
    reason: str | None = None
    deferred_until: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    # When the policy let it through (Temporal's clock): what frequency caps count.
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    # Every decision on the way, [{"at", "status", "reason"}], for "why didn't I get it?"
    history: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    esp: str | None = Field(default=None, max_length=20)
    esp_message_id: str | None = Field(default=None, max_length=300)
    # Claims of the step so far: the compare-and-set token of the ``sending`` status.
    attempts: int = 0
    # Calls to an ESP so far (waiting for a rate-limit slot is none): what retries are bounded by.
    esp_calls: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    # What the send was asked to render with, so an operator can send a dead letter again.
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    if_capped: str = Field(default="skip", max_length=10, sa_column_kwargs={"server_default": "skip"})
    # failed or unknown messages are dead letters until an operator retries or discards them
    resolution: str | None = Field(default=None, max_length=20)  # retried | discarded
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    # The journey entry (trigger event id) the send belongs to: its A/B variants.
    entry_id: str | None = Field(default=None, max_length=200)
    # The links of the email, in order, as tracked redirects name them (journeys/tracking).
    links: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    # When the step reached its final status (sent, or why not): the hour its figures
    # count in, the later opens and clicks too (journeys/analytics/message_facts.py).
    counted_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    # The first time each happened, for a person (not a scanner or an image proxy).
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    opened_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    clicked_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    bounced_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    complained_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    unsubscribed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    # A test send (POST /v1/templates/{name}/test-send) to an address of the operator's
    # choosing: never counted in analytics or frequency caps, never a dead letter.
    test: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class JourneyEntryRow(SQLModel, table=True):
    """Who entered which journey, for re-entry rules that must outlive Temporal's retention
    (``never``) and to find the runs of keyed journeys (``always``, one run per key)."""

    __tablename__ = "journey_entries"
    __table_args__ = (UniqueConstraint("journey", "customer_id", "entry_key", name="uq_journey_entries"),)

    id: int | None = Field(default=None, primary_key=True)
    journey: str = Field(max_length=100)
    customer_id: str = Field(max_length=200, index=True)
    entry_key: str = Field(default="", max_length=200)  # "" unless the journey is keyed
    workflow_id: str = Field(max_length=1000)  # Temporal's limit (in bytes, so never more characters)
    trigger_event_id: str = Field(max_length=200)
    entered_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class SplitAssignmentRow(SQLModel, table=True):
    """Which variant of an A/B split a customer got, once per journey entry."""

    __tablename__ = "split_assignments"
    __table_args__ = (
        UniqueConstraint("journey", "customer_id", "entry_id", "split", name="uq_split_assignments"),
        # An entry's variants, whichever id the customer goes by now (analytics).
        Index("ix_split_assignments_entry", "journey", "entry_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    journey: str = Field(max_length=100, index=True)
    customer_id: str = Field(max_length=200)
    entry_id: str = Field(max_length=200)  # the trigger event id of the journey entry
    split: str = Field(max_length=100)
    variant: str = Field(max_length=100)
    assigned_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class ConversionRow(SQLModel, table=True):
    """A journey goal reached, with the variants the customer was in at the time."""

    __tablename__ = "conversions"
    __table_args__ = (UniqueConstraint("journey", "customer_id", "entry_id", "goal", name="uq_conversions"),)

    id: int | None = Field(default=None, primary_key=True)
    journey: str = Field(max_length=100, index=True)
    customer_id: str = Field(max_length=200)
    entry_id: str = Field(max_length=200)
    goal: str = Field(max_length=100)
    event_id: str = Field(max_length=200)
    variants: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    converted_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class SuppressionRow(SQLModel, table=True):
    """Addresses that must not get (marketing) mail, one row per reason, kept as a SHA-256
    of the normalised address so that erasing a customer keeps no personal data.
    See journeys/consent/suppressions.py for what each reason stops."""

    __tablename__ = "suppressions"

    email_sha256: str = Field(primary_key=True, max_length=64)
    reason: str = Field(primary_key=True, max_length=40)  # hard_bounce | complaint | manual | erased
    source: str = Field(default="api", max_length=40)  # api, smtp, erasure, webhook:<provider>
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class SubscriptionRow(SQLModel, table=True):
    """A customer's choice for one marketing topic ("*": all marketing). No row: the
    topic's default (subscribed, unless the topic is opt-in)."""

    __tablename__ = "subscriptions"

    customer_id: str = Field(primary_key=True, max_length=200)
    topic: str = Field(primary_key=True, max_length=50)
    subscribed: bool
    source: str = Field(max_length=40)  # api, one-click, preferences-page
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class CustomerAliasRow(SQLModel, table=True):
    """Another id the same customer was known by (a Segment anonymousId before sign-up, an
    alias call's previousId): events under it belong to ``customer_id``. See journeys/customers/identity.py."""

    __tablename__ = "customer_aliases"

    alias_id: str = Field(primary_key=True, max_length=200)
    customer_id: str = Field(max_length=200, index=True)
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class WebhookTokenRow(SQLModel, table=True):
    """Tokens of signed webhook requests already seen (Mailgun): a replayed request is refused."""

    __tablename__ = "webhook_tokens"

    provider: str = Field(primary_key=True, max_length=20)
    token: str = Field(primary_key=True, max_length=200)
    seen_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class EspRateRow(SQLModel, table=True):
    """The next free send slot toward one ESP (epoch seconds), shared by every worker:
    a per-ESP rate limit (journeys/providers/rate_limit.py)."""

    __tablename__ = "esp_rate_slots"

    esp: str = Field(primary_key=True, max_length=20)
    next_at: float = 0.0
