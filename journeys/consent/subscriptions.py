"""Customers' choices per marketing topic, and what they mean for a send.

A topic with no row for the customer has its default: subscribed, unless the topic is
listed in ``JOURNEYS_OPT_IN_TOPICS`` (then the customer must opt in first). The special
topic ``*`` is "all marketing": unsubscribed there, no topic goes out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.storage.database import Database
from journeys.storage.tables import SubscriptionRow, utcnow

ALL_MARKETING = "*"


class Subscriptions(BaseModel):
    """A customer's preferences: ``all_marketing`` off stops every topic whatever its flag."""

    customer_id: str
    all_marketing: bool
    topics: dict[str, bool]


async def load_subscriptions(
    session: AsyncSession, customer_id: str, topics: Iterable[str], opt_in: frozenset[str]
) -> Subscriptions:
    """The customer's flag for every topic in ``topics`` and any topic they ever chose."""
    rows = (await session.exec(select(SubscriptionRow).where(SubscriptionRow.customer_id == customer_id))).all()
    chosen = {row.topic: row.subscribed for row in rows}
    flags = {topic: topic not in opt_in for topic in topics}
    flags.update({topic: value for topic, value in chosen.items() if topic != ALL_MARKETING})
    return Subscriptions(
        customer_id=customer_id, all_marketing=chosen.get(ALL_MARKETING, True), topics=dict(sorted(flags.items()))
    )


async def unsubscribed_reason(
    session: AsyncSession, customer_id: str, topic: str, opt_in: frozenset[str]
) -> str | None:
    """Why a marketing email about ``topic`` may not go to the customer, or None if it may."""
    rows = (
        await session.exec(
            select(SubscriptionRow).where(
                SubscriptionRow.customer_id == customer_id, col(SubscriptionRow.topic).in_([topic, ALL_MARKETING])
            )
        )
    ).all()
    chosen = {row.topic: row for row in rows}
    everything = chosen.get(ALL_MARKETING)
    if everything is not None and not everything.subscribed:
        return f"unsubscribed from all marketing ({everything.source}, {everything.updated_at:%Y-%m-%d %H:%M} UTC)"
    mine = chosen.get(topic)
    if mine is not None:
        if mine.subscribed:
            return None
        return f"unsubscribed from topic {topic!r} ({mine.source}, {mine.updated_at:%Y-%m-%d %H:%M} UTC)"
    if topic in opt_in:
        return f"topic {topic!r} is opt-in and the customer has not opted in"
    return None


async def set_subscriptions(
    db: Database, session: AsyncSession, customer_id: str, changes: Mapping[str, bool], source: str
) -> None:
    """Record the customer's choices (topic -> subscribed; ``*`` for all marketing). Commits."""
    now = utcnow()
    for topic, subscribed in changes.items():
        statement = (
            db.insert(SubscriptionRow)
            .values(customer_id=customer_id, topic=topic, subscribed=subscribed, source=source, updated_at=now)
            .on_conflict_do_update(
                index_elements=["customer_id", "topic"],
                set_={"subscribed": subscribed, "source": source, "updated_at": now},
            )
        )
        await session.exec(statement)  # type: ignore[call-overload]
    await session.commit()
