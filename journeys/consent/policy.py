"""The send policy, applied by the delivery activity to every send, whatever the journey does.

In order: suppression (hard bounces stop everything; complaints, manual and erased
addresses stop marketing), the customer's subscription to the topic, quiet hours in the
customer's time zone (marketing waits), and the frequency cap across all journeys
(marketing is skipped or waits, as the journey chose). Each refusal is a ``Decision``
with the reason support reads in the message log.

The cap is counted and the send claimed in one transaction that holds a lock on the
customer's row, so two journeys sending at the same moment cannot both take the last slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.contracts.activity_io import IfCapped
from journeys.contracts.customers import Customer
from journeys.storage.database import Database
from journeys.contracts.send_rules import FrequencyCap, QuietHours, capped_until, caps_from
from journeys.storage.settings import Settings
from journeys.consent.subscriptions import unsubscribed_reason
from journeys.consent.suppressions import STOPS_TRANSACTIONAL, suppressions_of
from journeys.storage.tables import MessageRow
from journeys.templating.catalog import TemplateInfo

# Ledger statuses that took a slot of the cap: on their way out, out, or maybe out.
COUNTED = ("sending", "sent", "unknown", "retrying")


@dataclass(frozen=True)
class Decision:
    """The policy says no (for now): what the message log records, and until when."""

    status: Literal["suppressed", "unsubscribed", "deferred", "capped"]
    reason: str
    until: datetime | None = None
    deferred_for: Literal["quiet hours", "frequency cap"] | None = None


class SendPolicy:
    def __init__(
        self,
        caps: tuple[FrequencyCap, ...] = (),
        quiet_hours: QuietHours | None = None,
        opt_in_topics: frozenset[str] = frozenset(),
    ) -> None:
        self.caps = caps
        self.quiet_hours = quiet_hours
        self.opt_in_topics = opt_in_topics

    @classmethod
    def from_settings(cls, settings: Settings) -> "SendPolicy":
        return cls(
            caps=caps_from(settings.frequency_cap_24h, settings.frequency_cap_7d),
            quiet_hours=QuietHours.parse(settings.quiet_hours) if settings.quiet_hours else None,
            opt_in_topics=settings.opt_in_topic_set,
        )

    async def check(self, session: AsyncSession, customer: Customer, info: TemplateInfo, now: datetime) -> Decision | None:
        """Suppression, subscription and quiet hours; None when the send may go ahead."""
        assert customer.email
        stops = await suppressions_of(session, customer.email)
        if not info.is_marketing:
            stops = [row for row in stops if row.reason in STOPS_TRANSACTIONAL]
        if stops:
            first = stops[0]
            scope = "all mail" if first.reason in STOPS_TRANSACTIONAL else "marketing"
            return Decision(
                "suppressed",
                f"address suppressed for {scope}: {first.reason.replace('_', ' ')} "
                f"({first.source}, {first.created_at:%Y-%m-%d %H:%M} UTC)",
            )
        if not info.is_marketing:
            return None
        assert info.topic
        why = await unsubscribed_reason(session, customer.id, info.topic, self.opt_in_topics)
        if why:
            return Decision("unsubscribed", why)
        if self.quiet_hours is not None:
            zone = _zone(customer.timezone)
            opens = self.quiet_hours.ends_after(now, zone)
            if opens is not None:
                return Decision(
                    "deferred",
                    f"quiet hours ({self.quiet_hours} {zone.key}): deferred until {opens:%Y-%m-%d %H:%M %Z}",
                    until=opens.astimezone(timezone.utc),
                    deferred_for="quiet hours",
                )
        return None

    async def lock_customer(self, db: Database, session: AsyncSession, customer_id: str) -> None:
        """Serialise cap checks per customer until the transaction ends.

        PostgreSQL: a row lock. SQLite: a write as the transaction's first statement takes
        the database's write lock (SQLite has no row locks; writers queue on busy_timeout).
        """
        if db.is_sqlite:
            await session.exec(  # type: ignore[call-overload]
                text("UPDATE customers SET updated_at = updated_at WHERE id = :id"), params={"id": customer_id}
            )
        else:
            await session.exec(  # type: ignore[call-overload]
                text("SELECT id FROM customers WHERE id = :id FOR UPDATE"), params={"id": customer_id}
            )

    async def check_cap(self, session: AsyncSession, customer_id: str, now: datetime, if_capped: IfCapped) -> Decision | None:
        """Under the customer lock: would one more marketing email break a cap?"""
        if not self.caps:
            return None
        longest = max(cap.window for cap in self.caps)
        rows = await session.exec(
            select(MessageRow.claimed_at).where(
                MessageRow.customer_id == customer_id,
                MessageRow.category == "marketing",
                col(MessageRow.status).in_(COUNTED),
                col(MessageRow.claimed_at) > now - longest,
            )
        )
        held = capped_until(self.caps, [t for t in rows.all() if t is not None], now)
        if held is None:
            return None
        free_at, cap = held
        if if_capped == "wait":
            return Decision(
                "deferred",
                f"frequency cap ({cap}): deferred until {free_at:%Y-%m-%d %H:%M} UTC",
                until=free_at,
                deferred_for="frequency cap",
            )
        return Decision("capped", f"frequency cap ({cap}) reached; skipped (next free slot {free_at:%Y-%m-%d %H:%M} UTC)")


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
