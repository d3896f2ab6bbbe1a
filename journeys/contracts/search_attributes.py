"""Custom search attributes every journey keeps current (Temporal UI: filter by them)."""

from temporalio.common import SearchAttributeKey

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
JOURNEY = SearchAttributeKey.for_keyword("Journey")
JOURNEY_STEP = SearchAttributeKey.for_keyword("JourneyStep")
ALL = (CUSTOMER_ID, JOURNEY, JOURNEY_STEP)
