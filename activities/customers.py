"""Customer lookup for journeys (``self.customer`` and ``await self.refresh()``)."""

from __future__ import annotations

from temporalio import activity

from journeys.contracts.activity_io import LOAD_CUSTOMER, LoadCustomerInput, LoadCustomerResult
from journeys.customers.profiles import get_customer
from journeys.storage.database import Database


class CustomerActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name=LOAD_CUSTOMER)
    async def load_customer(self, input: LoadCustomerInput) -> LoadCustomerResult:
        async with self.db.session() as session:
            return LoadCustomerResult(customer=await get_customer(session, input.customer_id))
