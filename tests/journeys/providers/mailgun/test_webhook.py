"""Mailgun webhooks: HMAC-SHA256 over timestamp + token, freshness, token replay, event mapping."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from journeys.providers.email_events import EmailEvent, WebhookRejected
from journeys.providers.mailgun import webhook as mailgun

NOW = datetime(2024, 11, 22, 23, 45, 0, tzinfo=timezone.utc)
TS = int(NOW.timestamp())
KEY = secrets.token_hex(16)


def signature(key: str = KEY, timestamp: int = TS, token: str | None = None) -> dict[str, str]:
    token = token or secrets.token_hex(25)
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": str(timestamp), "token": token, "signature": digest}


def event_data(**fields: Any) -> dict[str, Any]:
    """Shaped like the "event-data" examples of Mailgun's Events / Webhooks docs."""
    data: dict[str, Any] = {
        "id": "G9Bn5sl1TC6nu79C8C0bwg",
        "timestamp": TS - 30.375624,
        "log-level": "info",
        "envelope": {"sender": "bob@mg.example.com", "transport": "smtp", "targets": "alice@example.com"},
        "flags": {"is-routed": False, "is-authenticated": True, "is-system-test": False, "is-test-mode": False},
        "message": {
            "headers": {
                "to": "Alice <alice@example.com>",
                "message-id": "20130503192659.13651.20287@mg.example.com",
                "from": "Bob <bob@mg.example.com>",
                "subject": "Welcome",
            },
            "attachments": [],
            "size": 111,
        },
        "recipient": "alice@example.com",
        "recipient-domain": "example.com",
        "campaigns": [],
        "tags": [],
        "user-variables": {"journeys_message_id": "msg-7"},
    }
    data.update(fields)
    return data


def body(data: dict[str, Any], sig: dict[str, str] | None = None) -> bytes:
    return json.dumps({"signature": sig or signature(), "event-data": data}).encode()


def run(raw: bytes, key: str = KEY, **kw: Any) -> list[EmailEvent]:
    events, _ = mailgun.events_from_request(raw, {"Content-Type": "application/json"}, signing_key=key, now=NOW, **kw)
    return events


def test_delivered_is_normalised() -> None:
    events = run(body(event_data(event="delivered", **{"delivery-status": {"code": 250, "message": "OK"}})))
    assert events == [
        EmailEvent(
            provider="mailgun",
            provider_event_id="G9Bn5sl1TC6nu79C8C0bwg",
            type="email.delivered",
            email="alice@example.com",
            message_id="msg-7",
            esp_message_id="20130503192659.13651.20287@mg.example.com",
            occurred_at=datetime.fromtimestamp(TS - 30.375624, tz=timezone.utc),
        )
    ]


def test_permanent_failure_is_a_hard_bounce() -> None:
    data = event_data(
        event="failed", severity="permanent", reason="suppress-bounce", **{"log-level": "error"},
        **{"delivery-status": {"attempt-no": 1, "message": "", "code": 605,
                               "description": "Not delivering to previously bounced address", "session-seconds": 0.0}},
    )
    [event] = run(body(data))
    assert (event.type, event.bounce, event.detail) == (
        "email.bounced", "hard", "Not delivering to previously bounced address"
    )


def test_temporary_failure_is_a_soft_bounce() -> None:
    data = event_data(
        event="failed", severity="temporary", reason="generic",
        **{"delivery-status": {"attempt-no": 1, "code": 452, "description": "",
                               "message": "4.2.2 The email account that you tried to reach is over quota."}},
    )
    [event] = run(body(data))
    assert (event.type, event.bounce) == ("email.bounced", "soft")
    assert event.detail == "4.2.2 The email account that you tried to reach is over quota."


def test_engagement_and_complaints() -> None:
    [opened] = run(body(event_data(event="opened", id="op1", ip="50.56.129.169")))
    [clicked] = run(body(event_data(event="clicked", id="cl1", url="https://example.com/offer")))
    [complained] = run(body(event_data(event="complained", id="co1")))
    assert (opened.type, opened.provider_event_id) == ("email.opened", "op1")
    assert (clicked.type, clicked.url) == ("email.clicked", "https://example.com/offer")
    assert complained.type == "email.complained"


@pytest.mark.parametrize("kind", ["accepted", "unsubscribed", "stored", "something_new"])
def test_unmapped_kinds_are_skipped(kind: str) -> None:
    assert run(body(event_data(event=kind))) == []


def test_wrong_key_is_rejected() -> None:
    with pytest.raises(WebhookRejected, match="^bad Mailgun signature$") as info:  # no token handed out
        run(body(event_data(event="delivered"), signature(key=secrets.token_hex(16))))
    assert info.value.status == 401


@pytest.mark.parametrize("field", ["timestamp", "token"])
def test_tampered_signed_fields_are_rejected(field: str) -> None:
    sig = signature()
    sig[field] = str(TS - 1) if field == "timestamp" else secrets.token_hex(25)
    with pytest.raises(WebhookRejected, match="^bad Mailgun signature$"):
        run(body(event_data(event="delivered"), sig))


def test_missing_signature_is_rejected() -> None:
    with pytest.raises(WebhookRejected) as info:
        run(json.dumps({"event-data": event_data(event="delivered")}).encode())
    assert info.value.status == 401


@pytest.mark.parametrize("offset", [-6 * 60, 6 * 60])
def test_stale_or_future_timestamp_is_rejected(offset: int) -> None:
    with pytest.raises(WebhookRejected, match="stale|future"):
        run(body(event_data(event="delivered"), signature(timestamp=TS + offset)))


def test_tolerance_is_configurable() -> None:
    raw = body(event_data(event="delivered"), signature(timestamp=TS - 6 * 60))
    assert len(run(raw, max_age=timedelta(minutes=10))) == 1


def test_the_token_comes_back_for_the_replay_check() -> None:
    """The route refuses a token it stored before (tests/api/test_webhooks_api.py)."""
    sig = signature(token="t0k3n" * 10)
    _, token = mailgun.events_from_request(body(event_data(event="delivered"), sig), {}, signing_key=KEY, now=NOW)
    assert token == "t0k3n" * 10


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'"just a string"'])
def test_malformed_body_is_400(raw: bytes) -> None:
    with pytest.raises(WebhookRejected) as info:
        run(raw)
    assert info.value.status == 400


def test_signed_body_without_event_data_object_is_400() -> None:
    with pytest.raises(WebhookRejected) as info:
        run(json.dumps({"signature": signature(), "event-data": 3}).encode())
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("kind", "bot", "machine", "who"),
    [
        ("opened", "apple", "proxy", "Apple Mail Privacy Protection"),
        ("opened", "gmail", "proxy", "Gmail's image proxy"),
        ("opened", "generic", "scanner", "a firewall or anti-virus scanner"),
        ("clicked", "apple", "scanner", "Apple Mail Privacy Protection"),
        ("clicked", "generic", "scanner", "a firewall or anti-virus scanner"),
        ("opened", "", None, None),
    ],
)
def test_opens_and_clicks_carry_the_client_and_mailguns_bot_detection(kind: str, bot: str, machine: str | None, who: str | None) -> None:
    """"Open and Click Bot Detection": client-info.bot is apple, gmail, generic, or empty."""
    client = {"client-name": "unknown", "client-type": "unknown", "user-agent": "Mozilla/5.0", "device-type": "unknown",
              "client-os": "unknown", "bot": bot}
    [event] = run(body(event_data(event=kind, id="e1", ip="17.58.1.2", url="https://x.example/", **{"client-info": client})))
    assert (event.user_agent, event.address, event.machine) == ("Mozilla/5.0", "17.58.1.2", machine)
    assert (event.detail is None) if who is None else (who in (event.detail or ""))
