"""A customer's marketing subscriptions: ``GET/PUT /v1/customers/{id}/subscriptions``."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from api.answers import answers
from api.errors import invalid
from api.deps import CustomerId, StateDep, customer_or_404
from journeys.consent.subscriptions import ALL_MARKETING, Subscriptions, load_subscriptions, set_subscriptions
from journeys.consent.suppressions import suppressions_of

router = APIRouter(tags=["consent"])


class SubscriptionsOut(Subscriptions):
    # Suppression reasons of the customer's address (hard_bounce, complaint, manual, erased):
    # while any is there, no marketing goes out whatever the flags say.
    suppressed: list[str] = Field(default_factory=list)


class SubscriptionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    all_marketing: StrictBool | None = Field(default=None, description="false: no marketing at all, whatever the topics say.")
    topics: dict[str, StrictBool] = Field(default_factory=dict, description="Topic -> subscribed. Topics not named keep their flag.")


@router.get("/v1/customers/{customer_id}/subscriptions", response_model=SubscriptionsOut, summary="Read a customer's subscriptions", responses=answers(404))
async def read_subscriptions(customer_id: CustomerId, state: StateDep) -> SubscriptionsOut:
    async with state.db.session() as session:
        customer = await customer_or_404(session, customer_id)
        subs = await load_subscriptions(session, customer_id, state.catalog.topics(), state.settings.opt_in_topic_set)
        reasons = [row.reason for row in await suppressions_of(session, customer.email)] if customer.email else []
    return SubscriptionsOut(**subs.model_dump(), suppressed=reasons)


@router.put("/v1/customers/{customer_id}/subscriptions", response_model=SubscriptionsOut, summary="Change a customer's subscriptions", responses=answers(404))
async def change_subscriptions(customer_id: CustomerId, body: SubscriptionsIn, state: StateDep) -> SubscriptionsOut:
    """Takes effect for the next send, including sends already waiting in a journey."""
    known = state.catalog.topics()
    unknown = sorted(set(body.topics) - set(known))
    if unknown:
        why = f"unknown topic; topics of the templates: {', '.join(known) or 'none'}"
        raise invalid(*((("body", "topics", topic), why) for topic in unknown))
    changes = dict(body.topics)
    if body.all_marketing is not None:
        changes[ALL_MARKETING] = body.all_marketing
    async with state.db.session() as session:
        await customer_or_404(session, customer_id)
        await set_subscriptions(state.db, session, customer_id, changes, source="api")
    return await read_subscriptions(customer_id, state)
