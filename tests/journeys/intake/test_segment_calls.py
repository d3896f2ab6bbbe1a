"""How one Segment call is checked and translated into a Journeys event, with no database involved."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from journeys.contracts.events import EVENT_TYPE_PATTERN, ID_PATTERN, Event
from journeys.intake.segment_calls import (
    SegmentBatch,
    SegmentCall,
    SegmentError,
    corrected_timestamp,
    event_id,
    event_type,
    parse_call,
    to_event,
)

AT = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def call(**fields: Any) -> SegmentCall:
    return parse_call(fields, None, "batch[0]")


def event_of(**fields: Any) -> Event:
    parsed = call(**fields)
    event = to_event(parsed, parsed.who, AT)
    assert event is not None
    return event


# ----- the mapping of each call type --------------------------------------------------------


def test_a_track_call_becomes_an_event_of_its_normalised_name() -> None:
    event = event_of(type="track", userId="u1", event="Order Completed", properties={"total": 42}, messageId="m-1")
    assert event == Event(id="m-1", type="order_completed", customer_id="u1", properties={"total": 42}, timestamp=AT)


def test_a_track_name_that_already_is_an_event_type_is_kept_as_it_is() -> None:
    assert event_of(type="track", userId="u1", event="cart.abandoned").type == "cart.abandoned"
    assert event_of(type="track", userId="u1", event="user.signed-up_v2").type == "user.signed-up_v2"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Order Completed", "order_completed"),
        ("  Signed Up!  ", "signed_up"),
        ("Checkout Step 2 / Viewed", "checkout_step_2_viewed"),
        ("Cart.Abandoned", "cart.abandoned"),
        ("_Product Viewed_", "product_viewed"),
        ("Café Visité", "caf_visit"),
        ("!!!", "event"),
    ],
)
def test_segment_event_names_become_valid_event_types(name: str, expected: str) -> None:
    assert event_type(name) == expected
    assert re.match(EVENT_TYPE_PATTERN, expected)


def test_an_overlong_event_name_is_cut_to_a_hundred_characters() -> None:
    assert event_type("a" * 150) == "a" * 100
    assert event_type("Viewed " + "x" * 200) == ("viewed_" + "x" * 200)[:100]
    assert len(event_of(type="track", userId="u1", event="Long " * 40).type) == 100


@pytest.mark.parametrize(
    ("name", "kind"),
    [("journeys.message", "journeys_message"), ("Journeys.Customer_Merged", "journeys_customer_merged"), ("  journeys.send  ", "journeys_send")],
)
def test_names_in_the_engines_own_namespace_become_the_apps_own_however_they_are_written(name: str, kind: str) -> None:
    """The engine's event types cannot come from an app; its "journeys.message" is its own event."""
    assert event_of(type="track", userId="u1", event=name).type == kind


def test_a_name_that_only_resembles_the_engines_namespace_is_accepted() -> None:
    assert event_of(type="track", userId="u1", event="Journeys Message").type == "journeys_message"


@pytest.mark.parametrize("kind", ["page", "screen"])
def test_page_and_screen_calls_carry_their_name_and_category_in_the_properties(kind: str) -> None:
    event = event_of(type=kind, anonymousId="anon-1", name="Pricing", category="Docs", properties={"path": "/pricing"})
    assert (event.type, event.customer_id) == (kind, "anon-1")
    assert event.properties == {"path": "/pricing", "name": "Pricing", "category": "Docs"}


def test_a_page_without_name_or_category_keeps_its_properties_unchanged() -> None:
    assert event_of(type="page", userId="u1", properties={"name": "from the page"}).properties == {"name": "from the page"}
    assert event_of(type="page", userId="u1").properties == {}


def test_the_calls_page_name_wins_over_a_property_of_the_same_name() -> None:
    assert event_of(type="page", userId="u1", name="Home", properties={"name": "old"}).properties == {"name": "Home"}


def test_a_group_call_becomes_a_group_event_with_the_group_id_and_its_traits() -> None:
    event = event_of(type="group", userId="u1", groupId="acme", traits={"plan": "enterprise"}, properties={"x": 1})
    assert (event.type, event.properties) == ("group", {"group_id": "acme", "traits": {"plan": "enterprise"}})


def test_an_identify_call_becomes_an_identify_event_carrying_the_traits() -> None:
    event = event_of(type="identify", userId="u1", traits={"email": "ann@example.com", "plan": "pro"})
    assert (event.type, event.customer_id) == ("identify", "u1")
    assert event.properties == {"email": "ann@example.com", "plan": "pro"}


def test_an_alias_call_stores_no_event_of_its_own() -> None:
    alias = call(type="alias", userId="u1", previousId="anon-1")
    assert to_event(alias, "u1", AT) is None


def test_the_endpoints_call_type_overrides_the_type_in_the_body() -> None:
    parsed = parse_call({"type": "page", "userId": "u1", "event": "Clicked"}, "track", "body")
    assert parsed.type == "track"
    assert parse_call({"userId": "u1"}, "identify", "body").type == "identify"


# ----- ids ----------------------------------------------------------------------------------


def test_ids_sent_as_numbers_are_read_as_text() -> None:
    parsed = call(type="group", userId=42, anonymousId=7, messageId=1001, groupId=5)
    assert (parsed.userId, parsed.anonymousId, parsed.messageId, parsed.groupId) == ("42", "7", "1001", "5")
    event = to_event(parsed, parsed.who, AT)
    assert event is not None and (event.id, event.customer_id, event.properties["group_id"]) == ("1001", "42", "5")
    assert call(type="alias", userId=9, previousId=8).previousId == "8"


def test_the_user_id_is_who_the_call_is_about_and_the_anonymous_id_only_without_one() -> None:
    assert call(type="track", userId="u1", anonymousId="anon-1", event="x").who == "u1"
    assert call(type="track", anonymousId="anon-1", event="x").who == "anon-1"
    assert call(type="track", userId="", anonymousId="anon-1", event="x").who == "anon-1"


def test_null_properties_traits_and_context_read_as_empty() -> None:
    parsed = call(type="identify", userId="u1", properties=None, traits=None, context=None)
    assert (parsed.properties, parsed.traits, parsed.context) == ({}, {}, {})


def test_fields_the_spec_has_and_journeys_does_not_use_are_accepted() -> None:
    parsed = call(
        type="track", userId="u1", event="x", integrations={"All": True}, context={"library": {"name": "analytics-python"}}
    )
    assert parsed.context == {"library": {"name": "analytics-python"}}


def test_the_message_id_is_the_event_id_so_a_retried_call_is_the_same_event() -> None:
    first = event_of(type="track", userId="u1", event="x", messageId="ajs-next-1714564800000-abc")
    again = event_of(type="track", userId="u1", event="x", messageId="ajs-next-1714564800000-abc")
    assert first.id == again.id == "ajs-next-1714564800000-abc"


@pytest.mark.parametrize("message_id", ["m" * 201, "web/2024/05/01", "has space"])
def test_a_message_id_that_cannot_be_an_event_id_is_hashed_the_same_way_every_time(message_id: str) -> None:
    hashed = event_id(call(type="track", userId="u1", event="x", messageId=message_id))
    assert re.fullmatch(r"seg_[0-9a-f]{40}", hashed)
    assert event_id(call(type="track", userId="u1", event="y", messageId=message_id)) == hashed
    assert event_id(call(type="track", userId="u1", event="x", messageId=message_id + "2")) != hashed


def test_a_message_id_of_exactly_two_hundred_characters_is_kept() -> None:
    assert event_id(call(type="track", userId="u1", event="x", messageId="m" * 200)) == "m" * 200


def test_a_call_without_a_message_id_gets_a_fresh_event_id_each_time() -> None:
    ids = {event_id(call(type="track", userId="u1", event="x")) for _ in range(3)}
    assert len(ids) == 3 and all(re.fullmatch(r"seg_[0-9a-f]{32}", i) for i in ids)


def test_a_message_id_ending_in_a_newline_still_gives_a_valid_event_id() -> None:
    event = event_of(type="track", userId="u1", event="x", messageId="m-1\n")  # Event() refuses the id today
    assert re.fullmatch(ID_PATTERN, event.id) and "\n" not in event.id


# ----- what is refused, and where -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"type": "track", "event": "x"}, "batch[2]: track needs userId or anonymousId"),
        ({"type": "identify", "userId": "", "anonymousId": None}, "batch[2]: identify needs userId or anonymousId"),
        ({"type": "page", "properties": {"path": "/"}}, "batch[2]: page needs userId or anonymousId"),
        ({"type": "screen", "name": "Home"}, "batch[2]: screen needs userId or anonymousId"),
        ({"type": "track", "userId": "u1"}, "batch[2]: track needs event (the event name)"),
        ({"type": "track", "userId": "u1", "event": "   "}, "batch[2]: track needs event (the event name)"),
        ({"type": "group", "userId": "u1", "traits": {"name": "Acme"}}, "batch[2]: group needs groupId"),
        ({"type": "alias", "userId": "u1"}, "batch[2]: alias needs userId and previousId"),
        ({"type": "alias", "previousId": "anon-1", "anonymousId": "anon-2"}, "batch[2]: alias needs userId and previousId"),
    ],
)
def test_a_call_missing_what_its_type_needs_is_refused_naming_the_call(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(SegmentError) as refused:
        parse_call(raw, None, "batch[2]")
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("field", "value"),
    [("userId", "has space"), ("anonymousId", "a/b"), ("previousId", "x" * 201), ("userId", "tab\there")],
)
def test_an_id_that_cannot_name_a_customer_is_refused_naming_the_field(field: str, value: str) -> None:
    raw = {"type": "alias", "userId": "u1", "previousId": "p1", "anonymousId": "a1", field: value}
    with pytest.raises(SegmentError, match=rf"^body\.{field}: at most 200 characters, no spaces or slashes$"):
        parse_call(raw, None, "body")


def test_a_user_id_ending_in_a_newline_is_refused_like_any_other_whitespace() -> None:
    with pytest.raises(SegmentError, match=r"^body\.userId:"):
        parse_call({"type": "track", "userId": "u1\n", "event": "x"}, None, "body")


def test_an_event_name_ending_in_a_newline_becomes_a_valid_event_type() -> None:
    assert event_type("clicked\n") == "clicked"
    assert event_of(type="track", userId="u1", event="clicked\n").type == "clicked"


def test_a_call_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(SegmentError, match=r"^batch\[4\]: expected a JSON object$"):
        parse_call(["track"], None, "batch[4]")


def test_a_field_of_the_wrong_shape_is_refused_naming_the_field() -> None:
    with pytest.raises(SegmentError, match=r"^batch\[1\]\.type: "):
        parse_call({"type": "launch", "userId": "u1"}, None, "batch[1]")
    with pytest.raises(SegmentError, match=r"^body\.properties: "):
        parse_call({"userId": "u1", "event": "x", "properties": ["a"]}, "track", "body")
    with pytest.raises(SegmentError, match=r"^body\.timestamp: "):
        parse_call({"userId": "u1", "event": "x", "timestamp": "yesterday"}, "track", "body")


# ----- the batch envelope -------------------------------------------------------------------


def test_a_batch_envelope_carries_its_calls_and_when_it_was_sent() -> None:
    batch = SegmentBatch.model_validate(
        {"batch": [{"type": "track"}], "sentAt": "2024-05-01T12:00:00Z", "writeKey": "k", "context": {}}
    )
    assert batch.batch == [{"type": "track"}] and batch.sentAt == AT


def test_a_batch_without_calls_is_refused() -> None:
    with pytest.raises(ValidationError):
        SegmentBatch.model_validate({"batch": []})
    with pytest.raises(ValidationError):
        SegmentBatch.model_validate({"events": [{"type": "track"}]})


# ----- when it happened ---------------------------------------------------------------------


def test_the_senders_clock_skew_is_taken_out_of_the_timestamp() -> None:
    # The device's clock runs 1 h fast: it says it sent at 13:00 (our 12:00) what happened at 12:50 its time.
    parsed = call(type="track", userId="u1", event="x", timestamp="2024-05-01T12:50:00Z", sentAt="2024-05-01T13:00:00Z")
    assert corrected_timestamp(parsed, None, AT) == AT - timedelta(minutes=10)


def test_the_batch_sent_at_is_used_when_the_call_has_none() -> None:
    parsed = call(type="track", userId="u1", event="x", timestamp="2024-05-01T11:00:00Z")
    batch_sent_at = datetime(2024, 5, 1, 11, 30, tzinfo=timezone.utc)
    assert corrected_timestamp(parsed, batch_sent_at, AT) == AT - timedelta(minutes=30)


def test_the_calls_own_sent_at_wins_over_the_batches() -> None:
    parsed = call(type="track", userId="u1", event="x", timestamp="2024-05-01T11:00:00Z", sentAt="2024-05-01T11:05:00Z")
    batch_sent_at = datetime(2024, 5, 1, 11, 30, tzinfo=timezone.utc)
    assert corrected_timestamp(parsed, batch_sent_at, AT) == AT - timedelta(minutes=5)


def test_timestamps_without_a_zone_are_read_as_utc() -> None:
    naive = call(type="track", userId="u1", event="x", timestamp="2024-05-01T10:00:00")
    assert corrected_timestamp(naive, None, AT) == datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
    both_naive = call(type="track", userId="u1", event="x", timestamp="2024-05-01T10:00:00", sentAt="2024-05-01T10:20:00")
    assert corrected_timestamp(both_naive, None, AT) == AT - timedelta(minutes=20)
    mixed = call(type="track", userId="u1", event="x", timestamp="2024-05-01T10:00:00", sentAt="2024-05-01T12:20:00+02:00")
    assert corrected_timestamp(mixed, None, AT) == AT - timedelta(minutes=20)


def test_a_timestamp_in_another_zone_is_the_same_moment() -> None:
    parsed = call(type="track", userId="u1", event="x", timestamp="2024-05-01T08:00:00-04:00")
    assert corrected_timestamp(parsed, None, AT) == AT


def test_without_sent_at_the_timestamp_is_taken_as_it_is() -> None:
    parsed = call(type="track", userId="u1", event="x", timestamp="2023-01-01T00:00:00Z")  # a historical import
    assert corrected_timestamp(parsed, None, AT) == datetime(2023, 1, 1, tzinfo=timezone.utc)


def test_the_original_timestamp_is_used_when_there_is_no_timestamp() -> None:
    parsed = call(type="track", userId="u1", event="x", originalTimestamp="2024-05-01T12:50:00Z", sentAt="2024-05-01T13:00:00Z")
    assert corrected_timestamp(parsed, None, AT) == AT - timedelta(minutes=10)


def test_a_call_without_any_timestamp_happened_when_it_was_received() -> None:
    parsed = call(type="track", userId="u1", event="x", sentAt="2024-05-01T13:00:00Z")
    assert corrected_timestamp(parsed, datetime(2024, 5, 1, 9, tzinfo=timezone.utc), AT) == AT
