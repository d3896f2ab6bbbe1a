"""SendGrid Signed Event Webhook: ECDSA P-256 signatures over timestamp + body, event mapping."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from journeys.providers.email_events import EmailEvent, WebhookRejected
from journeys.providers.sendgrid import webhook as sendgrid

NOW = datetime(2024, 11, 22, 23, 45, 0, tzinfo=timezone.utc)
TS = int(NOW.timestamp())


@pytest.fixture(scope="module")
def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def public_key_b64(private_key: ec.EllipticCurvePrivateKey) -> str:
    """The verification key as SendGrid's Mail Settings page shows it: base64 of the DER SPKI."""
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def signed_headers(private_key: ec.EllipticCurvePrivateKey, body: bytes, timestamp: int = TS) -> dict[str, str]:
    signature = private_key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": str(timestamp),
    }


def _event(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "email": "example@test.com",
        "timestamp": TS - 60,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "category": ["cat facts"],
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "journeys_message_id": "msg-1",
    }
    base.update(fields)
    return base


# Shapes from SendGrid's "Event Webhook Reference" examples (custom arg journeys_message_id flattened in).
BATCH = [
    _event(event="processed", sg_event_id="ev-processed", pool={"name": "new_MY_test", "id": 210}),
    _event(event="delivered", sg_event_id="ev-delivered", response="250 OK", ip="168.1.1.1", tls=0),
    _event(event="deferred", sg_event_id="ev-deferred", response="400 try again later", attempt="5"),
    _event(event="bounce", sg_event_id="ev-bounce", reason="500 unknown recipient", status="5.0.0", type="bounce",
           bounce_classification="Invalid Address"),
    _event(event="bounce", sg_event_id="ev-blocked", reason="550 blocked by policy", status="5.7.1", type="blocked"),
    _event(event="dropped", sg_event_id="ev-dropped-bounced", reason="Bounced Address", status="5.0.0"),
    _event(event="dropped", sg_event_id="ev-dropped-unsub", reason="Unsubscribed Address", status="5.0.0"),
    _event(event="spamreport", sg_event_id="ev-spam"),
    _event(event="open", sg_event_id="ev-open", sg_machine_open=False, useragent="Mozilla/4.0", ip="255.255.255.255"),
    _event(event="click", sg_event_id="ev-click", useragent="Mozilla/4.0", ip="255.255.255.255",
           url="http://www.sendgrid.com/", url_offset={"index": 0, "type": "html"}),
    _event(event="unsubscribe", sg_event_id="ev-unsub"),
    _event(event="group_unsubscribe", sg_event_id="ev-group-unsub", asm_group_id=10),
]
BODY = json.dumps(BATCH).encode()


def test_valid_batch_is_normalised(private_key, public_key_b64) -> None:
    events = sendgrid.events_from_request(
        BODY, signed_headers(private_key, BODY), public_key=public_key_b64, now=NOW
    )
    assert [(e.provider_event_id, e.type, e.bounce) for e in events] == [
        ("ev-delivered", "email.delivered", None),
        ("ev-bounce", "email.bounced", "hard"),
        ("ev-blocked", "email.bounced", "soft"),
        ("ev-dropped-bounced", "email.bounced", "hard"),
        ("ev-spam", "email.complained", None),
        ("ev-open", "email.opened", None),
        ("ev-click", "email.clicked", None),
    ]
    assert events[0] == EmailEvent(
        provider="sendgrid",
        provider_event_id="ev-delivered",
        type="email.delivered",
        email="example@test.com",
        message_id="msg-1",
        esp_message_id="14c5d75ce93",
        occurred_at=datetime.fromtimestamp(TS - 60, tz=timezone.utc),
    )
    assert events[0].occurred_at.tzinfo == timezone.utc
    assert events[1].detail == "500 unknown recipient"
    assert events[6].url == "http://www.sendgrid.com/"


def test_pem_key_and_lowercase_headers(private_key) -> None:
    pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    headers = {k.lower(): v for k, v in signed_headers(private_key, BODY).items()}
    assert len(sendgrid.events_from_request(BODY, headers, public_key=pem, now=NOW)) == 7


def test_sendgrid_sdk_known_answer() -> None:
    """The vector from SendGrid's own SDK tests (sendgrid-python / @sendgrid/eventwebhook)."""
    public_key = (
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu"
        "/1FwCM/QmGUhA=="
    )
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6"
        "BpSzoQsbVRamr2nlxFDWYNH2j/0=",
        "X-Twilio-Email-Event-Webhook-Timestamp": "1588788367",
    }
    body = b'{"category":"example_payload","event":"test_event","message_id":"message_id"}'
    now = datetime.fromtimestamp(1588788367, tz=timezone.utc)
    sendgrid.verify(body, headers, public_key=public_key, now=now)
    with pytest.raises(WebhookRejected):
        sendgrid.verify(body + b" ", headers, public_key=public_key, now=now)


def test_tampered_body_is_rejected(private_key, public_key_b64) -> None:
    headers = signed_headers(private_key, BODY)
    tampered = BODY.replace(b'"bounce"', b'"delivered"', 1)
    with pytest.raises(WebhookRejected) as info:
        sendgrid.events_from_request(tampered, headers, public_key=public_key_b64, now=NOW)
    assert info.value.status == 401


def test_wrong_key_is_rejected(private_key) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(WebhookRejected):
        sendgrid.events_from_request(
            BODY, signed_headers(private_key, BODY), public_key=base64.b64encode(other).decode(), now=NOW
        )


def test_signed_timestamp_is_part_of_the_signature(private_key, public_key_b64) -> None:
    headers = signed_headers(private_key, BODY)
    headers["X-Twilio-Email-Event-Webhook-Timestamp"] = str(TS + 1)
    with pytest.raises(WebhookRejected):
        sendgrid.events_from_request(BODY, headers, public_key=public_key_b64, now=NOW)


@pytest.mark.parametrize("offset", [-11 * 60, 6 * 60])
def test_stale_or_future_timestamp_is_rejected(private_key, public_key_b64, offset: int) -> None:
    headers = signed_headers(private_key, BODY, TS + offset)
    with pytest.raises(WebhookRejected, match="stale|future"):
        sendgrid.events_from_request(BODY, headers, public_key=public_key_b64, now=NOW)


def test_tolerance_is_configurable(private_key, public_key_b64) -> None:
    headers = signed_headers(private_key, BODY, TS - 11 * 60)
    events = sendgrid.events_from_request(
        BODY, headers, public_key=public_key_b64, now=NOW, max_age=timedelta(minutes=15)
    )
    assert len(events) == 7


@pytest.mark.parametrize("missing", ["X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"])
def test_missing_header_is_rejected(private_key, public_key_b64, missing: str) -> None:
    headers = signed_headers(private_key, BODY)
    del headers[missing]
    with pytest.raises(WebhookRejected) as info:
        sendgrid.events_from_request(BODY, headers, public_key=public_key_b64, now=NOW)
    assert info.value.status == 401


@pytest.mark.parametrize("body", [b"[{not json", b'{"event": "delivered"}', b"[1, 2]"])
def test_malformed_signed_body_is_400(private_key, public_key_b64, body: bytes) -> None:
    with pytest.raises(WebhookRejected) as info:
        sendgrid.events_from_request(body, signed_headers(private_key, body), public_key=public_key_b64, now=NOW)
    assert info.value.status == 400


def test_unknown_kinds_are_skipped_and_missing_event_id_is_hashed(private_key, public_key_b64) -> None:
    batch = [_event(event="brand_new_kind", sg_event_id="x"), _event(event="open")]
    body = json.dumps(batch).encode()
    events = sendgrid.events_from_request(body, signed_headers(private_key, body), public_key=public_key_b64, now=NOW)
    assert len(events) == 1 and events[0].type == "email.opened"
    assert len(events[0].provider_event_id) == 64
    # the same event gives the same id however the JSON was laid out
    again = json.dumps(batch, indent=2, sort_keys=True).encode()
    assert sendgrid.parse(again)[0].provider_event_id == events[0].provider_event_id


def test_key_that_is_not_p256_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        sendgrid.load_public_key("bm90IGEga2V5")


def test_opens_and_clicks_carry_who_made_them_and_sendgrids_machine_flag() -> None:
    """What the rules of our own tracking need (journeys/intake/machines.py): useragent, ip,
    and on opens sg_machine_open (true for Apple Mail Privacy Protection and other machines)."""
    gmail = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    batch = [
        _event(event="open", sg_event_id="o1", useragent=gmail, ip="66.249.84.1", sg_machine_open=False),
        _event(event="open", sg_event_id="o2", useragent="Mozilla/5.0", ip="17.58.1.2", sg_machine_open=True),
        _event(event="click", sg_event_id="c1", useragent="Mozilla/5.0 (iPhone)", ip="203.0.113.5", url="https://x.example/"),
        _event(event="delivered", sg_event_id="d1", ip="168.1.1.1"),
    ]
    o1, o2, c1, d1 = sendgrid.parse(json.dumps(batch).encode())
    assert (o1.user_agent, o1.address, o1.machine) == (gmail, "66.249.84.1", None)
    assert (o2.user_agent, o2.address, o2.machine) == ("Mozilla/5.0", "17.58.1.2", "proxy")
    assert o2.detail is not None and "sg_machine_open" in o2.detail
    assert (c1.user_agent, c1.address, c1.machine, c1.url) == ("Mozilla/5.0 (iPhone)", "203.0.113.5", None, "https://x.example/")
    assert (d1.user_agent, d1.address) == (None, None), "a delivery's ip is SendGrid's, not a reader's"
