"""ESP webhooks through the API: verified per provider, stored as events, suppression updated.

Payloads are signed in the test with keys generated here; SNS certificates and the
subscription confirmation are served over real HTTP on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from sqlmodel import select
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from journeys.storage.database import Database
from journeys.consent.suppressions import suppressions_of
from journeys.storage.tables import EventRow, MessageRow, utcnow
from tests.conftest import wait_until

SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SNS_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
MAILGUN_KEY = "key-" + "m" * 32
RESEND_SECRET = "whsec_" + base64.b64encode(b"r" * 24).decode()
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"


class SnsServer:
    """Serves the signing certificate and records subscription confirmations."""

    def __init__(self) -> None:
        # Bound here and handed to uvicorn: the server owns its port from the start.
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self.confirmed: list[str] = []
        self.certificate_fetches = 0
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(timezone.utc)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(SNS_KEY.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1)).sign(SNS_KEY, hashes.SHA256())
        )
        self.pem = cert.public_bytes(serialization.Encoding.PEM)

        async def certificate(request: Any) -> Response:
            self.certificate_fetches += 1
            return Response(self.pem, media_type="application/x-pem-file")

        async def confirm(request: Any) -> Response:
            self.confirmed.append(str(request.query_params.get("Token")))
            return PlainTextResponse("<ConfirmSubscriptionResponse/>")

        self.app = Starlette(routes=[Route("/cert.pem", certificate), Route("/confirm", confirm)])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest_asyncio.fixture(scope="module")
async def sns_server() -> AsyncIterator[SnsServer]:
    """The SNS stand-in, serving over HTTP once for the whole module."""
    stand_in = SnsServer()
    server = uvicorn.Server(uvicorn.Config(stand_in.app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[stand_in.socket]))

    async def started() -> bool:
        assert not task.done(), "SNS stand-in failed to start"
        return server.started

    await wait_until(started, what="SNS stand-in serving")
    try:
        yield stand_in
    finally:
        server.should_exit = True
        await task
        stand_in.socket.close()


@pytest.fixture
def sns(sns_server: SnsServer) -> SnsServer:
    """The module's SNS stand-in, with this test's records only."""
    sns_server.confirmed.clear()
    sns_server.certificate_fetches = 0
    return sns_server


@pytest.fixture(autouse=True)
def no_cached_sns_certificates() -> Iterator[None]:
    """The SNS signing certificates are cached per process: start each test without them,
    so every SNS test fetches (and checks) the certificate itself."""
    from journeys.providers.ses import webhook as ses

    ses._CERT_CACHE.clear()
    yield
    ses._CERT_CACHE.clear()


@pytest.fixture
def api_settings(sns: SnsServer) -> dict[str, Any]:
    public = SENDGRID_KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "sendgrid_webhook_public_key": base64.b64encode(public).decode(),
        "mailgun_webhook_signing_key": MAILGUN_KEY,
        "postmark_webhook_username": "hooks",
        "postmark_webhook_password": "s3cret",
        "resend_webhook_secret": RESEND_SECRET,
        "ses_sns_topic_arns": TOPIC,
        "sns_certificate_host_pattern": r"^127\.0\.0\.1$",
        "sns_certificate_schemes": "http",
    }


@pytest.fixture
def db(api_app: FastAPI) -> Database:
    return api_app.state.journeys.db  # type: ignore[no-any-return]


@pytest_asyncio.fixture
async def message(db: Database) -> MessageRow:
    """A marketing email we sent to Ann through an ESP a minute ago (a click within seconds
    of sending would be a link scanner's)."""
    now = utcnow() - timedelta(minutes=1)
    row = MessageRow(
        id="msg-1", idempotency_key="journey:x:ann/e1/send:promo", customer_id="ann", template="promo",
        category="marketing", to_email="ann@example.com", status="sent", esp="sendgrid", esp_message_id="esp-1",
        history=[], created_at=now, updated_at=now, sent_at=now,
    )
    async with db.session() as session:
        session.add(row)
        await session.commit()
    return row


# ----- how each provider signs --------------------------------------------------------------


def sendgrid_request(events: list[dict[str, Any]], key: ec.EllipticCurvePrivateKey = SENDGRID_KEY) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events).encode()
    stamp = str(int(time.time()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


def mailgun_request(event_data: dict[str, Any], token: str = "t" * 50, key: str = MAILGUN_KEY) -> tuple[bytes, dict[str, str]]:
    stamp = str(int(time.time()))
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    body = {"signature": {"timestamp": stamp, "token": token, "signature": signature}, "event-data": event_data}
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


def postmark_request(record: dict[str, Any], password: str = "s3cret") -> tuple[bytes, dict[str, str]]:
    auth = base64.b64encode(f"hooks:{password}".encode()).decode()
    return json.dumps(record).encode(), {"Authorization": f"Basic {auth}"}


def resend_request(payload: dict[str, Any], secret: str = RESEND_SECRET, msg_id: str = "msg_2abc") -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signature = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()).decode()
    return body, {"svix-id": msg_id, "svix-timestamp": stamp, "svix-signature": f"v1,{signature}"}


def sns_request(message: dict[str, Any], sns: SnsServer, key: rsa.RSAPrivateKey = SNS_KEY) -> tuple[bytes, dict[str, str]]:
    fields = ["Message", "MessageId", "Timestamp", "TopicArn", "Type"]
    if message["Type"] == "SubscriptionConfirmation":
        fields = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    signed = "".join(f"{name}\n{message[name]}\n" for name in fields)
    signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    full = {**message, "SignatureVersion": "2", "Signature": base64.b64encode(signature).decode(), "SigningCertURL": f"{sns.base}/cert.pem"}
    return json.dumps(full).encode(), {"x-amz-sns-message-type": message["Type"]}


def ses_bounce(sns: SnsServer) -> dict[str, Any]:
    event = {
        "eventType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "ann@example.com", "diagnosticCode": "550 5.1.1 no such user"}],
                   "timestamp": "2026-11-29T10:00:00.000Z", "feedbackId": "fb-1"},
        "mail": {"messageId": "esp-1", "timestamp": "2026-11-29T09:59:00.000Z", "destination": ["ann@example.com"],
                 "tags": {"journeys_message_id": ["msg-1"]}},
    }
    return {"Type": "Notification", "MessageId": "sns-1", "TopicArn": TOPIC, "Message": json.dumps(event), "Timestamp": "2026-11-29T10:00:01.000Z"}


# ----- the tests ------------------------------------------------------------------------------


async def post(api: httpx.AsyncClient, provider: str, request: tuple[bytes, dict[str, str]]) -> httpx.Response:
    body, headers = request
    return await api.post(f"/v1/webhooks/{provider}", content=body, headers={"Authorization": "", **headers})


async def stored(db: Database) -> list[EventRow]:
    async with db.session() as session:
        return list((await session.exec(select(EventRow))).all())


async def suppressed(db: Database, email: str = "ann@example.com") -> list[str]:
    async with db.session() as session:
        return [row.reason for row in await suppressions_of(session, email)]


def signed_requests(sns: SnsServer) -> Iterator[tuple[str, tuple[bytes, dict[str, str]], str]]:
    """(provider, a valid request, the event type it carries), for every provider."""
    yield "sendgrid", sendgrid_request([{"email": "ann@example.com", "timestamp": int(time.time()), "event": "open",
                                         "sg_event_id": "sg-1", "sg_message_id": "esp-1.filter0001", "journeys_message_id": "msg-1"}]), "email.opened"
    yield "mailgun", mailgun_request({"event": "clicked", "id": "mg-1", "timestamp": time.time(), "recipient": "ann@example.com",
                                      "url": "https://shop.example.com/x", "message": {"headers": {"message-id": "esp-1"}},
                                      "user-variables": {"journeys_message_id": "msg-1"}}), "email.clicked"
    yield "postmark", postmark_request({"RecordType": "Delivery", "MessageID": "esp-1", "Recipient": "ann@example.com",
                                        "DeliveredAt": "2026-11-29T10:00:00Z", "Metadata": {"journeys_message_id": "msg-1"}}), "email.delivered"
    yield "resend", resend_request({"type": "email.delivered", "created_at": "2026-11-29T10:00:00.000Z",
                                    "data": {"email_id": "esp-1", "to": ["ann@example.com"], "created_at": "2026-11-29T10:00:00.000Z",
                                             "tags": {"journeys_message_id": "msg-1"}}}), "email.delivered"
    yield "ses", sns_request(ses_bounce(sns), sns), "email.bounced"


@pytest.mark.parametrize("provider", ["sendgrid", "mailgun", "postmark", "resend", "ses"])
async def test_a_verified_webhook_becomes_an_event_of_the_customer_once(
    api: httpx.AsyncClient, db: Database, message: MessageRow, sns: SnsServer, provider: str
) -> None:
    _, request, event_type = next(r for r in signed_requests(sns) if r[0] == provider)
    first = await post(api, provider, request)
    assert first.status_code == 200 and first.json() == {"received": 1, "stored": 1, "duplicates": 0}
    [event] = await stored(db)
    assert (event.type, event.customer_id, event.properties["message_id"]) == (event_type, "ann", "msg-1")
    if provider == "mailgun":
        # The same token again is a replay (401, tested below): Mailgun redelivers an event
        # with a fresh token and signature, so that is the duplicate to recognise.
        request = mailgun_request(json.loads(request[0])["event-data"], token="v" * 50)
    again = await post(api, provider, request)
    assert again.status_code == 200 and again.json() == {"received": 1, "stored": 0, "duplicates": 1}
    assert len(await stored(db)) == 1
    if provider == "ses":
        assert sns.certificate_fetches == 1, "fetched for this test, then taken from the cache"
    async with db.session() as session:
        row = await session.get(MessageRow, "msg-1")
        assert row is not None and [h["status"] for h in row.history] == [event_type]


async def test_hard_bounces_and_complaints_suppress_the_address(
    api: httpx.AsyncClient, db: Database, message: MessageRow, sns: SnsServer
) -> None:
    assert (await post(api, "ses", sns_request(ses_bounce(sns), sns))).status_code == 200
    complaint = postmark_request({"RecordType": "SpamComplaint", "ID": 42, "MessageID": "esp-1", "Email": "ann@example.com",
                                  "BouncedAt": "2026-11-29T10:00:00Z", "Type": "SpamComplaint", "TypeCode": 512})
    assert (await post(api, "postmark", complaint)).status_code == 200
    assert sorted(await suppressed(db)) == ["complaint", "hard_bounce"]
    [bounced] = [e for e in await stored(db) if e.type == "email.bounced"]
    assert bounced.properties["bounce"] == "hard" and "550 5.1.1" in bounced.properties["detail"]


async def test_a_soft_bounce_does_not_suppress(api: httpx.AsyncClient, db: Database, message: MessageRow) -> None:
    soft = sendgrid_request([{"email": "ann@example.com", "timestamp": int(time.time()), "event": "bounce", "type": "blocked",
                              "sg_event_id": "sg-2", "sg_message_id": "esp-1.x", "reason": "mailbox full"}])
    assert (await post(api, "sendgrid", soft)).status_code == 200
    assert await suppressed(db) == []
    [event] = await stored(db)
    assert event.properties["bounce"] == "soft"


@pytest.mark.parametrize(
    ("provider", "forge"),
    [
        ("sendgrid", lambda: sendgrid_request([{"email": "ann@example.com", "event": "spamreport", "sg_event_id": "f", "timestamp": 1,
                                                "sg_message_id": "esp-1.x"}], key=ec.generate_private_key(ec.SECP256R1()))),
        ("mailgun", lambda: mailgun_request({"event": "complained", "id": "f", "timestamp": time.time(), "recipient": "ann@example.com"}, key="wrong")),
        ("postmark", lambda: postmark_request({"RecordType": "SpamComplaint", "ID": 1, "MessageID": "esp-1", "Email": "ann@example.com"}, password="guess")),
        ("resend", lambda: resend_request({"type": "email.complained", "data": {"email_id": "esp-1", "to": ["ann@example.com"]}},
                                          secret="whsec_" + base64.b64encode(b"x" * 24).decode())),
    ],
)
async def test_a_request_with_a_bad_signature_is_a_401_and_changes_nothing(
    api: httpx.AsyncClient, db: Database, message: MessageRow, provider: str, forge: Any
) -> None:
    answer = await post(api, provider, forge())
    assert answer.status_code == 401, answer.text
    assert await stored(db) == [] and await suppressed(db) == []


async def test_a_tampered_sns_message_is_refused(api: httpx.AsyncClient, db: Database, message: MessageRow, sns: SnsServer) -> None:
    body, headers = sns_request(ses_bounce(sns), sns)
    tampered = body.replace(b"Permanent", b"Transient")
    assert (await post(api, "ses", (tampered, headers))).status_code == 401
    assert await stored(db) == [] and await suppressed(db) == []


async def test_a_replayed_mailgun_request_is_refused(api: httpx.AsyncClient, db: Database, message: MessageRow) -> None:
    request = mailgun_request({"event": "delivered", "id": "mg-9", "timestamp": time.time(), "recipient": "ann@example.com",
                               "message": {"headers": {"message-id": "esp-1"}}}, token="u" * 50)
    assert (await post(api, "mailgun", request)).status_code == 200
    replay = await post(api, "mailgun", request)
    assert replay.status_code == 401 and "replayed" in replay.json()["detail"]


async def test_an_sns_subscription_is_confirmed(api: httpx.AsyncClient, sns: SnsServer) -> None:
    confirmation = {"Type": "SubscriptionConfirmation", "MessageId": "sns-c", "Token": "tok-123", "TopicArn": TOPIC,
                    "Message": "You have chosen to subscribe", "SubscribeURL": f"{sns.base}/confirm?Action=ConfirmSubscription&Token=tok-123",
                    "Timestamp": "2026-11-29T10:00:00.000Z"}
    answer = await post(api, "ses", sns_request(confirmation, sns))
    assert answer.status_code == 200 and answer.json() == {"confirmed": TOPIC}
    assert sns.confirmed == ["tok-123"]


async def test_an_unconfigured_provider_says_which_setting_is_missing(api_app: FastAPI) -> None:
    api_app.state.journeys.settings = api_app.state.journeys.settings.model_copy(update={"resend_webhook_secret": None})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url="http://journeys.test") as client:
        answer = await client.post("/v1/webhooks/resend", content=b"{}")
        unknown = await client.post("/v1/webhooks/sparkpost", content=b"{}")
    assert answer.status_code == 404 and "JOURNEYS_RESEND_WEBHOOK_SECRET" in answer.json()["detail"]
    assert unknown.status_code == 404


async def test_ses_without_a_topic_list_takes_nothing(api_app: FastAPI, db: Database, sns: SnsServer) -> None:
    """Any AWS account could subscribe its own topic and publish genuinely signed bounces."""
    api_app.state.journeys.settings = api_app.state.journeys.settings.model_copy(update={"ses_sns_topic_arns": ""})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url="http://journeys.test") as client:
        body, headers = sns_request(ses_bounce(sns), sns)
        answer = await client.post("/v1/webhooks/ses", content=body, headers=headers)
    assert answer.status_code == 404 and "JOURNEYS_SES_SNS_TOPIC_ARNS" in answer.json()["detail"]
    assert await suppressed(db) == []
