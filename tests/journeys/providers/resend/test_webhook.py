"""Resend webhooks: Svix signatures (HMAC-SHA256 over id.timestamp.body), tolerance, event mapping."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timezone
from typing import Any

import pytest

from journeys.providers.email_events import EmailEvent, WebhookRejected
from journeys.providers.resend import webhook as resend

NOW = datetime(2024, 11, 22, 23, 45, 0, tzinfo=timezone.utc)
TS = int(NOW.timestamp())
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
SVIX_ID = "msg_2pHy7Lh0kBvyDT8jTpMc1TWdHQb"


def sign(body: bytes, secret: str = SECRET, timestamp: int = TS, msg_id: str = SVIX_ID) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(body: bytes, **kw: Any) -> dict[str, str]:
    return {
        "svix-id": kw.get("msg_id", SVIX_ID),
        "svix-timestamp": str(kw.get("timestamp", TS)),
        "svix-signature": sign(body, **kw),
        "Content-Type": "application/json",
    }


def payload(type_: str, **data: Any) -> bytes:
    """Shaped like the examples of Resend's "Event Types" docs."""
    base: dict[str, Any] = {
        "broadcast_id": "8b146471-e88e-4322-86af-016cd36fd216",
        "created_at": "2024-11-22T23:41:11.894719+00:00",
        "email_id": "56761188-7520-42d8-8898-ff6fc54ce618",
        "from": "Acme <onboarding@resend.dev>",
        "to": ["delivered@resend.dev"],
        "subject": "Sending this example",
        "tags": {"category": "confirm_email", "journeys_message_id": "msg-5"},
    }
    base.update(data)
    return json.dumps({"type": type_, "created_at": "2024-11-22T23:41:12.126Z", "data": base}).encode()


def run(body: bytes, hdrs: dict[str, str] | None = None, secret: str = SECRET) -> list[EmailEvent]:
    return resend.events_from_request(body, headers(body) if hdrs is None else hdrs, secret=secret, now=NOW)


def test_delivered_is_normalised() -> None:
    assert run(payload("email.delivered")) == [
        EmailEvent(
            provider="resend",
            provider_event_id=SVIX_ID,
            type="email.delivered",
            email="delivered@resend.dev",
            message_id="msg-5",
            esp_message_id="56761188-7520-42d8-8898-ff6fc54ce618",
            occurred_at=datetime(2024, 11, 22, 23, 41, 12, 126000, tzinfo=timezone.utc),
        )
    ]


@pytest.mark.parametrize(("bounce_type", "expected"), [("Permanent", "hard"), ("Transient", "soft"), ("Undetermined", "soft")])
def test_bounced(bounce_type: str, expected: str) -> None:
    message = ("The recipient's email address is on the suppression list because it has a recent history of "
               "producing hard bounces.")
    body = payload("email.bounced", bounce={"message": message, "subType": "Suppressed", "type": bounce_type})
    [event] = run(body)
    assert (event.type, event.bounce, event.detail) == ("email.bounced", expected, message)


def test_complained_opened_clicked() -> None:
    click = {"ipAddress": "122.115.53.11", "link": "https://resend.com", "timestamp": "2024-11-24T05:00:57.163Z",
             "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36"}
    [complained] = run(payload("email.complained"))
    [opened] = run(payload("email.opened"))
    [clicked] = run(payload("email.clicked", click=click))
    assert [complained.type, opened.type, clicked.type] == ["email.complained", "email.opened", "email.clicked"]
    assert clicked.url == "https://resend.com"
    assert complained.bounce is None and opened.url is None
    assert (clicked.user_agent, clicked.address) == (click["userAgent"], "122.115.53.11")
    assert (opened.user_agent, opened.address) == (None, None), "Resend's opens name no client"
    [seen] = run(payload("email.opened", open={"ipAddress": "17.58.1.2", "userAgent": "Mozilla/5.0"}))
    assert (seen.user_agent, seen.address) == ("Mozilla/5.0", "17.58.1.2")


def test_tags_as_a_list_of_name_value_pairs() -> None:
    body = payload("email.opened", tags=[{"name": "category", "value": "x"}, {"name": "journeys_message_id", "value": "m9"}])
    assert run(body)[0].message_id == "m9"
    assert run(payload("email.opened", tags=None))[0].message_id is None


@pytest.mark.parametrize("kind", ["email.sent", "email.delivery_delayed", "email.scheduled", "contact.created"])
def test_unmapped_kinds_are_skipped(kind: str) -> None:
    assert run(payload(kind)) == []


def test_svix_documented_known_answer() -> None:
    """The example from Svix's "Verifying Webhooks Manually"."""
    body = b'{"test": 2432232314}'
    hdrs = {"svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "svix-timestamp": "1614265330",
            "svix-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    now = datetime.fromtimestamp(1614265330, tz=timezone.utc)
    assert resend.verify(body, hdrs, secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", now=now) == hdrs["svix-id"]


def test_any_v1_signature_in_the_list_passes() -> None:
    body = payload("email.delivered")
    hdrs = headers(body)
    old_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    hdrs["svix-signature"] = f"v1,{sign(body, old_secret)[3:]} v2,garbage {hdrs['svix-signature']}"
    assert len(run(body, hdrs)) == 1


def test_tampered_body_is_rejected() -> None:
    body = payload("email.delivered")
    with pytest.raises(WebhookRejected) as info:
        run(body.replace(b"delivered@", b"someone@"), headers(body))
    assert info.value.status == 401


def test_wrong_secret_is_rejected() -> None:
    body = payload("email.delivered")
    with pytest.raises(WebhookRejected):
        run(body, headers(body, secret="whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()))


def test_signed_id_and_timestamp_cannot_be_swapped() -> None:
    body = payload("email.delivered")
    hdrs = headers(body)
    with pytest.raises(WebhookRejected):
        run(body, {**hdrs, "svix-id": "msg_other"})
    with pytest.raises(WebhookRejected):
        run(body, {**hdrs, "svix-timestamp": str(TS - 1)})


@pytest.mark.parametrize("offset", [-6 * 60, 6 * 60])
def test_stale_or_future_timestamp_is_rejected(offset: int) -> None:
    body = payload("email.delivered")
    with pytest.raises(WebhookRejected, match="stale|future"):
        run(body, headers(body, timestamp=TS + offset))


@pytest.mark.parametrize("missing", ["svix-id", "svix-timestamp", "svix-signature"])
def test_missing_header_is_rejected(missing: str) -> None:
    body = payload("email.delivered")
    hdrs = headers(body)
    del hdrs[missing]
    with pytest.raises(WebhookRejected) as info:
        run(body, hdrs)
    assert info.value.status == 401


def test_header_names_are_case_insensitive() -> None:
    body = payload("email.delivered")
    assert len(run(body, {k.title(): v for k, v in headers(body).items()})) == 1


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"type": "email.delivered", "data": "x"}'])
def test_malformed_signed_body_is_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as info:
        run(body)
    assert info.value.status == 400
