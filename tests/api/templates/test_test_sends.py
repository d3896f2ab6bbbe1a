"""POST /v1/templates/{name}/test-send: the preview, sent through the ESP (here the mail
catcher) to the address asked for; a test in the message log, counted nowhere, never a
dead letter; suppression holds; at most once per id; an ESP failure is a 502 or 503."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import func, select

from journeys.consent.policy import SendPolicy
from journeys.contracts.send_rules import caps_from
from journeys.devstack.mail_catcher import MailCatcher, read_mailbox
from journeys.operations import template_test_send
from journeys.providers.base import OutgoingEmail, PermanentSendError, TransientSendError
from journeys.storage.analytics_tables import JourneyStatRow
from journeys.storage.database import Database
from journeys.storage.tables import MessageRow, utcnow
from tests.api.templates.conftest import put_customer

OPS = "ops@example.com"


async def send_to_ops(http: httpx.AsyncClient, name: str, **body: Any) -> httpx.Response:
    return await http.post(f"/v1/templates/{name}/test-send", json={"to": OPS, **body})


async def test_it_reaches_the_address_as_a_real_send_would_and_is_logged_as_a_test(
    http: httpx.AsyncClient, catcher: MailCatcher
) -> None:
    answer = await send_to_ops(http, "cart_reminder", id="t-1")
    assert answer.status_code == 201, answer.text
    sent = answer.json()
    assert (sent["status"], sent["duplicate"], sent["to"], sent["esp"]) == ("sent", False, OPS, "smtp")
    assert sent["customer_id"] == "sample-cart_reminder" and sent["esp_message_id"]
    [mail] = read_mailbox(catcher.directory)
    assert (mail.to, mail.subject) == (OPS, "You left something in your cart")
    assert mail.message["List-Id"] == "Journeys offers <offers.example.com>"
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "1 Example Street" in mail.text and "Blue mug" in mail.html
    assert "/t/c/" not in mail.html and "/t/o/" not in mail.html, "not tracked"

    [logged] = (await http.get("/v1/customers/sample-cart_reminder/messages")).json()
    assert (logged["id"], logged["test"], logged["step"], logged["journey"]) == (sent["message_id"], True, "test send", None)
    assert (logged["status"], logged["to_email"], logged["category"]) == ("sent", OPS, "marketing")


async def test_with_a_customer_it_is_in_their_message_log_marked_test(http: httpx.AsyncClient, catcher: MailCatcher) -> None:
    await put_customer(http, "bo", email="bo@example.com", locale="fr", attributes={"first_name": "Bo"})
    answer = await send_to_ops(http, "welcome", id="t-bo", customer_id="bo")
    assert answer.status_code == 201, answer.text
    [mail] = read_mailbox(catcher.directory)
    assert (mail.to, mail.subject) == (OPS, "Bienvenue sur Journeys, Bo !"), "their data and locale, to the address asked for"
    [logged] = (await http.get("/v1/customers/bo/messages")).json()
    assert (logged["test"], logged["to_email"], logged["template"]) == (True, OPS, "welcome")
    timeline = (await http.get("/v1/customers/bo/timeline")).json()
    assert any("welcome (test send) sent" in item["summary"] for item in timeline["items"])


async def test_the_same_id_again_answers_the_first_send_and_sends_nothing(http: httpx.AsyncClient, catcher: MailCatcher) -> None:
    first = await send_to_ops(http, "welcome", id="t-2")
    again = await send_to_ops(http, "welcome", id="t-2")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {**first.json(), "duplicate": True}
    assert len(read_mailbox(catcher.directory)) == 1
    other = await send_to_ops(http, "getting_started", id="t-2")
    assert other.status_code == 409 and "use a new id" in other.json()["detail"]
    elsewhere = await http.post("/v1/templates/welcome/test-send", json={"id": "t-2", "to": "someone@example.com"})
    assert elsewhere.status_code == 409
    assert len(read_mailbox(catcher.directory)) == 1


async def test_two_requests_with_one_id_at_once_send_once(http: httpx.AsyncClient, catcher: MailCatcher) -> None:
    answers = await asyncio.gather(*(send_to_ops(http, "welcome", id="t-race") for _ in range(3)))
    assert sorted(a.status_code for a in answers) == [200, 200, 201], [a.text for a in answers]
    assert len(read_mailbox(catcher.directory)) == 1


async def test_a_send_that_died_mid_way_is_unknown_and_never_sent_again(
    http: httpx.AsyncClient, catcher: MailCatcher, app_db: Database
) -> None:
    assert (await send_to_ops(http, "welcome", id="t-died")).status_code == 201
    async with app_db.session() as session:  # as if the API process had died between claim and answer
        await session.exec(update(MessageRow).values(status="sending", updated_at=utcnow() - timedelta(minutes=5)))  # type: ignore[call-overload]
        await session.commit()
    again = await send_to_ops(http, "welcome", id="t-died")
    assert again.status_code == 502 and "stopped mid-send; may have been sent; not sent again" in again.json()["detail"]
    assert len(read_mailbox(catcher.directory)) == 1
    assert (await http.get("/v1/dead-letters")).json() == []


async def test_a_suppressed_address_is_refused_and_nothing_sent(http: httpx.AsyncClient, catcher: MailCatcher, app_db: Database) -> None:
    assert (await http.post("/v1/suppressions", json={"email": OPS, "reason": "complaint"})).status_code == 201
    refused = await send_to_ops(http, "getting_started", id="t-3")
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"].startswith(f"{OPS} is suppressed for marketing: complaint (api, ")
    # As the send policy: a complaint stops marketing only; a hard bounce stops all mail.
    assert (await send_to_ops(http, "welcome", id="t-4")).status_code == 201
    assert (await http.post("/v1/suppressions", json={"email": OPS.upper(), "reason": "hard_bounce"})).status_code == 201
    bounced = await send_to_ops(http, "receipt", id="t-5")
    assert bounced.status_code == 409 and "suppressed for all mail: hard bounce" in bounced.json()["detail"]
    assert [m.subject for m in read_mailbox(catcher.directory)] == ["Welcome to Journeys, Ann!"]
    async with app_db.session() as session:
        keys = (await session.exec(select(MessageRow.idempotency_key))).all()
    assert keys == ["test-send:t-4"], "a refusal leaves nothing in the log: the same id may send once lifted"


async def test_it_counts_in_no_analytics_cap_or_dead_letter(http: httpx.AsyncClient, app_db: Database) -> None:
    await put_customer(http, "cy", email="cy@example.com")
    before = {path: (await http.get(path)).json() for path in ("/v1/journeys", "/v1/journeys/welcome/analytics")}
    for n in range(3):
        assert (await send_to_ops(http, "cart_reminder", id=f"cap-{n}", customer_id="cy")).status_code == 201
    assert {path: (await http.get(path)).json() for path in before} == before
    async with app_db.session() as session:
        assert (await session.exec(select(func.count()).select_from(JourneyStatRow))).one() == 0, "no roll-up bumped"
        # A frequency cap of one marketing email a day still has its slot free.
        policy = SendPolicy(caps=caps_from(1, 0))
        assert await policy.check_cap(session, "cy", utcnow(), "skip") is None


class ScriptedEsp:
    """An ESP that gives ``answers`` in turn (an exception is raised, else it is the ESP's
    message id) and keeps what it was handed in ``sent``."""

    name = "scripted"

    def __init__(self) -> None:
        self.answers: list[Any] = []
        self.sent: list[OutgoingEmail] = []

    async def send(self, email: OutgoingEmail) -> str:
        self.sent.append(email)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return str(answer)

    async def aclose(self) -> None:
        pass


@pytest.fixture
def esp(monkeypatch: pytest.MonkeyPatch) -> ScriptedEsp:
    scripted = ScriptedEsp()
    monkeypatch.setattr(template_test_send, "sender_from_settings", lambda settings: scripted)
    return scripted


async def test_an_esp_failure_is_a_502_or_503_never_a_500(http: httpx.AsyncClient, esp: ScriptedEsp) -> None:
    esp.answers.extend([PermanentSendError("550 mailbox unavailable", hard_bounce=True), TransientSendError("SMTP 421 busy", retry_after=12),
                "esp-id-1", TransientSendError("timed out after DATA", maybe_sent=True), RuntimeError("adapter bug")])

    refused = await send_to_ops(http, "welcome", id="e-1")
    assert refused.status_code == 502 and "refused by scripted: 550 mailbox unavailable" in refused.json()["detail"]
    assert (await http.get(f"/v1/suppressions/{OPS}")).json()["transactional_allowed"] is False, "a hard bounce, as any send"
    assert (await http.delete(f"/v1/suppressions/{OPS}", params={"reason": "hard_bounce"})).status_code == 200
    again = await send_to_ops(http, "welcome", id="e-1")
    assert again.status_code == 502 and "nothing was sent, nor will be for this id" in again.json()["detail"]

    away = await send_to_ops(http, "welcome", id="e-2")
    assert away.status_code == 503 and away.headers["Retry-After"] == "12", away.text
    assert "nothing was sent: send again (the same id)" in away.json()["detail"]
    retried = await send_to_ops(http, "welcome", id="e-2")  # nothing went out: the same id sends
    assert retried.status_code == 201 and retried.json()["esp_message_id"] == "esp-id-1"

    maybe = await send_to_ops(http, "welcome", id="e-3")
    assert maybe.status_code == 502 and "may have been sent; not sent again" in maybe.json()["detail"]
    assert (await send_to_ops(http, "welcome", id="e-3")).status_code == 502
    surprise = await send_to_ops(http, "welcome", id="e-4")
    assert surprise.status_code == 502 and "RuntimeError: adapter bug" in surprise.json()["detail"]

    assert [e.to for e in esp.sent] == [OPS] * 5, "one call each, none for a repeated id"
    assert all(e.metadata["test"] == "true" and e.metadata["step"] == "test send" for e in esp.sent)
    assert (await http.get("/v1/dead-letters")).json() == [], "a failed test send is no dead letter"
    statuses = {m["id"]: m["status"] for m in (await http.get("/v1/customers/sample-welcome/messages")).json()}
    assert sorted(statuses.values()) == ["failed", "sent", "unknown", "unknown"]


async def test_an_esp_not_set_up_in_the_api_is_a_502_naming_the_setting(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = http._transport.app.state.journeys.settings  # type: ignore[attr-defined]
    monkeypatch.setattr(settings, "esp", "sendgrid")
    answer = await send_to_ops(http, "welcome", id="cfg-1")
    assert answer.status_code == 502 and "JOURNEYS_SENDGRID_API_KEY" in answer.json()["detail"], answer.text


async def test_test_sends_need_the_api_key_and_a_valid_body(http: httpx.AsyncClient) -> None:
    assert (await http.post("/v1/templates/welcome/test-send", json={"id": "a", "to": OPS}, headers={"Authorization": ""})).status_code == 401
    for body, field in (({"to": OPS}, "id"), ({"id": "a"}, "to"), ({"id": "a", "to": "not an address"}, "to"),
                        ({"id": "a b", "to": OPS}, "id")):
        answer = await http.post("/v1/templates/welcome/test-send", json=body)
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", field], (body, answer.text)
    unknown = await send_to_ops(http, "welcom", id="u-1")
    assert unknown.status_code == 404 and "the templates are: cart_reminder" in unknown.json()["detail"]
    strict = await send_to_ops(http, "receipt", id="u-2", context={"order": {}})
    assert strict.status_code == 422 and "'receipt' is strict" in strict.json()["detail"][0]["msg"]
