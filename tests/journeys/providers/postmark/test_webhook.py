"""Postmark webhooks: HTTP basic auth, record mapping."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import pytest

from journeys.providers.email_events import EmailEvent, WebhookRejected
from journeys.providers.postmark import webhook as postmark

USER, PASSWORD = "postmark-hook", "s3cret-Pa55"


def auth(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def run(record: dict[str, Any], headers: dict[str, str] | None = None) -> list[EmailEvent]:
    raw = json.dumps(record).encode()
    return postmark.events_from_request(raw, auth() if headers is None else headers, username=USER, password=PASSWORD)


METADATA = {"journeys_message_id": "msg-42", "a_key": "a_value"}

# Shapes from Postmark's webhook docs (Delivery, Bounce, Spam complaint, Open, Click, Subscription change).
DELIVERY = {
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Recipient": "john@example.com",
    "DeliveredAt": "2019-11-05T16:33:54.9070259Z",
    "Details": "Test delivery webhook details",
    "Tag": "welcome-email",
    "ServerID": 23,
    "Metadata": METADATA,
    "RecordType": "Delivery",
    "MessageStream": "outbound",
}
BOUNCE = {
    "RecordType": "Bounce",
    "MessageStream": "outbound",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "Test",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Metadata": METADATA,
    "ServerID": 23,
    "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
    "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
    "Email": "john@example.com",
    "From": "sender@example.com",
    "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Test subject",
    "Content": "<Full dump of bounce>",
}
SPAM = {**BOUNCE, "RecordType": "SpamComplaint", "ID": 42, "Type": "SpamComplaint", "TypeCode": 512,
        "Name": "Spam complaint", "Description": "The subscriber explicitly marked this message as spam.",
        "Details": "Test spam complaint details"}
OPEN = {
    "RecordType": "Open",
    "MessageStream": "outbound",
    "FirstOpen": True,
    "Client": {"Name": "Chrome 35.0.1916.153", "Company": "Google", "Family": "Chrome"},
    "OS": {"Name": "OS X 10.7 Lion", "Company": "Apple Computer, Inc.", "Family": "OS X 10"},
    "Platform": "WebMail",
    "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5)",
    "ReadSeconds": 5,
    "Geo": {"CountryISOCode": "RS", "Country": "Serbia", "City": "Novi Sad", "IP": "188.2.95.4"},
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Metadata": METADATA,
    "ReceivedAt": "2019-11-05T16:33:54.9070259Z",
    "Tag": "welcome-email",
    "Recipient": "john@example.com",
}
CLICK = {
    "RecordType": "Click",
    "MessageStream": "outbound",
    "ClickLocation": "HTML",
    "Client": {"Name": "Chrome 35.0.1916.153", "Company": "Google", "Family": "Chrome"},
    "OS": {"Name": "OS X 10.7 Lion", "Company": "Apple Computer, Inc.", "Family": "OS X 10"},
    "Platform": "Desktop",
    "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5)",
    "OriginalLink": "https://example.com",
    "Geo": {"CountryISOCode": "RS", "Country": "Serbia", "City": "Novi Sad", "IP": "8.8.8.8"},
    "MessageID": "00000000-0000-0000-0000-000000000000",
    "Metadata": METADATA,
    "ReceivedAt": "2017-10-25T15:21:11-04:00",
    "Tag": "welcome-email",
    "Recipient": "john@example.com",
}
SUBSCRIPTION_CHANGE = {
    "RecordType": "SubscriptionChange",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "ServerID": 123456,
    "MessageStream": "outbound",
    "ChangedAt": "2020-02-01T10:53:34.416071Z",
    "Recipient": "bounced-address@wildbit.com",
    "Origin": "Recipient",
    "SuppressSending": True,
    "SuppressionReason": "HardBounce",
    "Tag": "my-tag",
    "Metadata": METADATA,
}


def test_delivery_is_normalised() -> None:
    [event] = run(DELIVERY)
    assert event == EmailEvent(
        provider="postmark",
        provider_event_id=event.provider_event_id,
        type="email.delivered",
        email="john@example.com",
        message_id="msg-42",
        esp_message_id="883953f4-6105-42a2-a16a-77a8eac79483",
        occurred_at=datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=timezone.utc),
    )
    assert len(event.provider_event_id) == 64  # sha256 of the record: Postmark gives deliveries no id
    assert run(DELIVERY)[0].provider_event_id == event.provider_event_id


def test_bounce_is_normalised() -> None:
    [event] = run(BOUNCE)
    assert (event.type, event.bounce, event.provider_event_id) == ("email.bounced", "hard", "4323372036854775807")
    assert (event.email, event.message_id) == ("john@example.com", "msg-42")
    assert event.detail == "smtp;550 5.1.1 The email account that you tried to reach does not exist."


@pytest.mark.parametrize(
    ("bounce_type", "expected"),
    [("HardBounce", "hard"), ("BadEmailAddress", "hard"), ("SoftBounce", "soft"), ("Transient", "soft"),
     ("DnsError", "soft")],
)
def test_bounce_severity(bounce_type: str, expected: str) -> None:
    assert run({**BOUNCE, "Type": bounce_type})[0].bounce == expected


def test_spam_complaint_open_and_click() -> None:
    [spam] = run(SPAM)
    [opened] = run(OPEN)
    [clicked] = run(CLICK)
    assert (spam.type, spam.email, spam.provider_event_id, spam.bounce) == ("email.complained", "john@example.com", "42", None)
    assert (opened.type, opened.email) == ("email.opened", "john@example.com")
    assert (clicked.type, clicked.url) == ("email.clicked", "https://example.com")
    assert clicked.occurred_at == datetime(2017, 10, 25, 19, 21, 11, tzinfo=timezone.utc)
    assert clicked.occurred_at.tzinfo == timezone.utc


def test_subscription_change_and_unknown_kinds_are_skipped() -> None:
    assert run(SUBSCRIPTION_CHANGE) == []
    assert run({**DELIVERY, "RecordType": "SomethingNew"}) == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        auth(password="wrong"),
        auth(user="someone-else"),
        {"Authorization": "Bearer " + PASSWORD},
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Basic " + base64.b64encode(USER.encode()).decode()},
    ],
    ids=["missing", "wrong-password", "wrong-user", "not-basic", "garbled", "no-colon"],
)
def test_bad_auth_is_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected) as info:
        run(DELIVERY, headers)
    assert info.value.status == 401


def test_auth_header_name_is_case_insensitive() -> None:
    assert len(run(DELIVERY, {"authorization": auth()["Authorization"]})) == 1


def test_malformed_json_is_400_but_only_after_auth() -> None:
    with pytest.raises(WebhookRejected) as info:
        postmark.events_from_request(b"{oops", auth(), username=USER, password=PASSWORD)
    assert info.value.status == 400
    with pytest.raises(WebhookRejected) as info:
        postmark.events_from_request(b"{oops", {}, username=USER, password=PASSWORD)
    assert info.value.status == 401


def test_opens_and_clicks_carry_the_user_agent_and_the_readers_address() -> None:
    [opened] = run(OPEN)
    [clicked] = run(CLICK)
    assert (opened.user_agent, opened.address, opened.machine) == ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5)", "188.2.95.4", None)
    assert (clicked.user_agent, clicked.address) == ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5)", "8.8.8.8")
    [no_geo] = run({**OPEN, "Geo": None, "UserAgent": ""})
    assert (no_geo.user_agent, no_geo.address) == (None, None)
