"""Custom search attributes every journey keeps current (Temporal UI: filter by them)."""

import hashlib

from temporalio.common import SearchAttributeKey

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
JOURNEY = SearchAttributeKey.for_keyword("Journey")
JOURNEY_STEP = SearchAttributeKey.for_keyword("JourneyStep")
# A hash of the customer id, set when a journey starts: erasure finds every run of a
# customer with a query that needs no quoting, whatever characters the id holds
# (Temporal's visibility queries cannot match ids with quotes or backslashes).
CUSTOMER_KEY = SearchAttributeKey.for_keyword("CustomerKey")
ALL = (CUSTOMER_ID, JOURNEY, JOURNEY_STEP, CUSTOMER_KEY)


def customer_key(customer_id: str) -> str:
    return hashlib.sha256(customer_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
