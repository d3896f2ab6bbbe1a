"""Amazon SES via SNS: SNS signature versions 1 and 2, certificate URL and topic allow-lists, SES event mapping."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from journeys.providers.email_events import EmailEvent, WebhookRejected
from journeys.providers.ses import webhook as ses

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
UNSUBSCRIBE_URL = f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={TOPIC}:0b5d3c2a"


def self_signed(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Fetcher:
    def __init__(self, pem: bytes) -> None:
        self.pem = pem
        self.urls: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        return self.pem


@pytest.fixture
def fetcher(key: rsa.RSAPrivateKey) -> Fetcher:
    return Fetcher(self_signed(key))


SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


def sign(message: dict[str, Any], key: rsa.RSAPrivateKey, version: str = "1") -> dict[str, Any]:
    """What SNS does: sign the "Name\\nValue\\n" lines of the present fields, in the documented order."""
    text = "".join(f"{name}\n{message[name]}\n" for name in SIGNED[message["Type"]] if name in message)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(text.encode(), padding.PKCS1v15(), algorithm)
    return {**message, "SignatureVersion": version, "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": message.get("SigningCertURL", CERT_URL)}


def notification(ses_event: dict[str, Any], key: rsa.RSAPrivateKey, version: str = "1", **extra: Any) -> dict[str, Any]:
    message = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": json.dumps(ses_event),
        "Timestamp": "2017-08-05T00:41:03.012Z",
        "UnsubscribeURL": UNSUBSCRIBE_URL,
        **extra,
    }
    return sign(message, key, version)


HEADERS = {"x-amz-sns-message-type": "Notification", "x-amz-sns-topic-arn": TOPIC, "Content-Type": "text/plain"}


async def run(message: dict[str, Any], fetcher: Fetcher, headers: dict[str, str] | None = None,
              **kw: Any) -> ses.SnsResult:
    kw.setdefault("cert_cache", {})
    return await ses.events_from_request(json.dumps(message).encode(), HEADERS if headers is None else headers,
                                         fetch_certificate=fetcher, **kw)


MAIL: dict[str, Any] = {
    "timestamp": "2017-08-05T00:40:02.012Z",
    "source": "Sender Name <sender@example.com>",
    "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
    "sendingAccountId": "123456789012",
    "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
    "destination": ["recipient@example.com"],
    "headersTruncated": False,
    "headers": [{"name": "From", "value": "Sender Name <sender@example.com>"}],
    "commonHeaders": {"from": ["Sender Name <sender@example.com>"], "to": ["recipient@example.com"],
                      "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000", "subject": "Hi"},
    "tags": {"ses:configuration-set": ["ConfigSet"], "ses:source-ip": ["192.0.2.0"],
             "ses:from-domain": ["example.com"], "ses:caller-identity": ["ses_user"],
             "journeys_message_id": ["msg-99"]},
}
BOUNCE_EVENT: dict[str, Any] = {
    "eventType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [{"emailAddress": "recipient@example.com", "action": "failed", "status": "5.1.1",
                               "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
        "timestamp": "2017-08-05T00:41:02.669Z",
        "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
        "reportingMTA": "dsn; mta.example.com",
    },
    "mail": MAIL,
}


@pytest.mark.parametrize("version", ["1", "2"])
async def test_bounce_notification_verifies_with_both_signature_versions(key, fetcher, version: str) -> None:
    result = await run(notification(BOUNCE_EVENT, key, version), fetcher)
    assert result.message_type == "Notification" and result.topic_arn == TOPIC
    assert result.events == [
        EmailEvent(
            provider="ses",
            provider_event_id="22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            type="email.bounced",
            email="recipient@example.com",
            message_id="msg-99",
            esp_message_id="EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
            occurred_at=datetime(2017, 8, 5, 0, 41, 2, 669000, tzinfo=timezone.utc),
            bounce="hard",
            detail="smtp; 550 5.1.1 user unknown",
        )
    ]
    assert fetcher.urls == [CERT_URL]


async def test_subject_is_signed_when_present(key, fetcher) -> None:
    message = notification(BOUNCE_EVENT, key, Subject="Amazon SES Email Event Notification")
    assert len((await run(message, fetcher)).events) == 1
    with pytest.raises(WebhookRejected, match="^bad SNS signature$"):
        await run({**message, "Subject": "changed"}, fetcher)


async def test_several_bounced_recipients_give_one_event_each(key, fetcher) -> None:
    bounce = {**BOUNCE_EVENT["bounce"], "bounceType": "Transient", "bouncedRecipients": [
        {"emailAddress": "a@example.com", "diagnosticCode": "smtp; 452 4.2.2 mailbox full"},
        {"emailAddress": "b@example.com"},
    ]}
    events = (await run(notification({**BOUNCE_EVENT, "bounce": bounce}, key), fetcher)).events
    assert [(e.email, e.bounce, e.provider_event_id) for e in events] == [
        ("a@example.com", "soft", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324:0"),
        ("b@example.com", "soft", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324:1"),
    ]


async def test_complaint_delivery_open_click(key, fetcher) -> None:
    complaint = {"eventType": "Complaint", "mail": MAIL, "complaint": {
        "complainedRecipients": [{"emailAddress": "recipient@example.com"}],
        "timestamp": "2017-08-05T00:41:02.669Z",
        "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
        "userAgent": "Mozilla/5.0", "complaintFeedbackType": "abuse", "arrivalDate": "2017-08-05T00:41:02.669Z"}}
    delivery = {"eventType": "Delivery", "mail": MAIL, "delivery": {
        "timestamp": "2016-10-19T23:21:04.133Z", "processingTimeMillis": 11893,
        "recipients": ["recipient@example.com"], "smtpResponse": "250 2.6.0 Message received",
        "reportingMTA": "mta.example.com"}}
    opened = {"eventType": "Open", "mail": MAIL, "open": {
        "ipAddress": "192.0.2.1", "timestamp": "2017-08-09T22:00:19.652Z", "userAgent": "Mozilla/5.0"}}
    click = {"eventType": "Click", "mail": MAIL, "click": {
        "ipAddress": "192.0.2.1", "link": "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/send-email-smtp.html",
        "linkTags": {"samplekey0": ["samplevalue0"]}, "timestamp": "2017-08-09T23:51:25.570Z",
        "userAgent": "Mozilla/5.0"}}
    got = [(await run(notification(e, key), fetcher)).events for e in (complaint, delivery, opened, click)]
    assert [(e.type, e.email, e.message_id) for [e] in got] == [
        ("email.complained", "recipient@example.com", "msg-99"),
        ("email.delivered", "recipient@example.com", "msg-99"),
        ("email.opened", "recipient@example.com", "msg-99"),
        ("email.clicked", "recipient@example.com", "msg-99"),
    ]
    assert got[0][0].detail == "abuse" and got[0][0].bounce is None
    assert got[1][0].occurred_at == datetime(2016, 10, 19, 23, 21, 4, 133000, tzinfo=timezone.utc)
    assert got[3][0].url == "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/send-email-smtp.html"
    # Who opened and clicked, for the rules of our own tracking (journeys/intake/machines.py).
    assert [(e.user_agent, e.address) for [e] in got] == [(None, None), (None, None), ("Mozilla/5.0", "192.0.2.1"), ("Mozilla/5.0", "192.0.2.1")]


async def test_older_notification_format(key, fetcher) -> None:
    old = {
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Undetermined", "reportingMTA": "dns; email.example.com",
                   "bouncedRecipients": [{"emailAddress": "jane@example.com", "status": "5.1.1", "action": "failed",
                                          "diagnosticCode": "smtp; 550 5.1.1 <jane@example.com>... User"}],
                   "bounceSubType": "General", "timestamp": "2016-01-27T14:59:38.237Z",
                   "feedbackId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000"},
        "mail": {"timestamp": "2016-01-27T14:59:38.237Z", "source": "john@example.com",
                 "messageId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
                 "destination": ["jane@example.com", "mary@example.com"]},
    }
    [event] = (await run(notification(old, key), fetcher)).events
    assert (event.type, event.bounce, event.email, event.message_id) == ("email.bounced", "soft", "jane@example.com", None)
    assert event.esp_message_id == "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000"


@pytest.mark.parametrize("kind", ["Send", "Reject", "Rendering Failure", "DeliveryDelay", "Subscription"])
async def test_unmapped_event_types_are_skipped(key, fetcher, kind: str) -> None:
    assert (await run(notification({"eventType": kind, "mail": MAIL}, key), fetcher)).events == []


async def test_tampered_message_is_rejected(key, fetcher) -> None:
    message = notification(BOUNCE_EVENT, key)
    message["Message"] = message["Message"].replace("Permanent", "Transient")
    with pytest.raises(WebhookRejected) as info:
        await run(message, fetcher)
    assert info.value.status == 401


async def test_certificate_of_another_key_is_rejected(key) -> None:
    other = Fetcher(self_signed(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    with pytest.raises(WebhookRejected, match="^bad SNS signature$"):
        await run(notification(BOUNCE_EVENT, key), other)


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://evil.example.com/SimpleNotificationService.pem",
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "https://sns.us-east-1.amazonaws.com@evil.example/cert.pem",
        "https://127.0.0.1/cert.pem",
    ],
)
async def test_certificate_url_off_the_allow_list_is_never_fetched(key, fetcher, cert_url: str) -> None:
    message = notification(BOUNCE_EVENT, key, SigningCertURL=cert_url)
    with pytest.raises(WebhookRejected, match="^SNS URL not allowed: "):
        await run(message, fetcher)
    assert fetcher.urls == []


async def test_host_pattern_and_schemes_are_configurable(key, fetcher) -> None:
    message = notification(BOUNCE_EVENT, key, SigningCertURL="http://127.0.0.1:8081/cert.pem")
    result = await run(message, fetcher, host_pattern=re.compile(r"^127\.0\.0\.1$"), schemes={"http", "https"})
    assert len(result.events) == 1
    assert fetcher.urls == ["http://127.0.0.1:8081/cert.pem"]


async def test_certificates_are_cached_by_url(key, fetcher) -> None:
    cache: dict[str, x509.Certificate] = {}
    await run(notification(BOUNCE_EVENT, key), fetcher, cert_cache=cache)
    await run(notification(BOUNCE_EVENT, key, "2"), fetcher, cert_cache=cache)
    assert fetcher.urls == [CERT_URL] and list(cache) == [CERT_URL]


async def test_topic_not_allow_listed_is_rejected(key, fetcher) -> None:
    message = notification(BOUNCE_EVENT, key)
    with pytest.raises(WebhookRejected, match="topic"):
        await run(message, fetcher, topic_arns={"arn:aws:sns:us-east-1:123456789012:other"})
    assert fetcher.urls == []
    assert len((await run(message, fetcher, topic_arns={TOPIC})).events) == 1


SUBSCRIBE_URL = (
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + TOPIC
    + "&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b0"
)


def confirmation(key: rsa.RSAPrivateKey, version: str = "1", **extra: Any) -> dict[str, Any]:
    message = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b0",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.\n"
                   "To confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": SUBSCRIBE_URL,
        "Timestamp": "2012-04-26T20:45:04.751Z",
        **extra,
    }
    return sign(message, key, version)


@pytest.mark.parametrize("version", ["1", "2"])
async def test_subscription_confirmation_returns_the_subscribe_url(key, fetcher, version: str) -> None:
    headers = {**HEADERS, "x-amz-sns-message-type": "SubscriptionConfirmation"}
    result = await run(confirmation(key, version), fetcher, headers)
    assert result == ses.SnsResult("SubscriptionConfirmation", TOPIC, events=[], subscribe_url=SUBSCRIBE_URL)


async def test_subscribe_url_off_the_allow_list_is_rejected(key, fetcher) -> None:
    message = confirmation(key, SubscribeURL="https://evil.example.com/?Action=ConfirmSubscription")
    with pytest.raises(WebhookRejected, match=r"^SNS URL not allowed: 'https://evil\.example\.com/"):
        await run(message, fetcher, {})


async def test_unsupported_signature_version_is_rejected(key, fetcher) -> None:
    message = {**notification(BOUNCE_EVENT, key), "SignatureVersion": "3"}
    with pytest.raises(WebhookRejected, match="^unsupported SNS SignatureVersion '3'$"):
        await run(message, fetcher)
    assert fetcher.urls == []


@pytest.mark.parametrize("raw", [b"{nope", b"[]", b'{"Type": "Surprise", "TopicArn": "x"}'])
async def test_malformed_body_is_400(fetcher, raw: bytes) -> None:
    with pytest.raises(WebhookRejected) as info:
        await ses.events_from_request(raw, {}, fetch_certificate=fetcher, cert_cache={})
    assert info.value.status == 400


async def test_message_type_header_must_match(key, fetcher) -> None:
    headers = {**HEADERS, "x-amz-sns-message-type": "SubscriptionConfirmation"}
    with pytest.raises(WebhookRejected) as info:
        await run(notification(BOUNCE_EVENT, key), fetcher, headers)
    assert info.value.status == 400


async def test_signed_message_that_is_not_an_ses_event_is_400(key, fetcher) -> None:
    message = sign({"Type": "Notification", "MessageId": "m1", "TopicArn": TOPIC, "Message": "Hello world!",
                    "Timestamp": "2012-05-02T00:54:06.655Z"}, key)
    with pytest.raises(WebhookRejected) as info:
        await run(message, fetcher)
    assert info.value.status == 400
