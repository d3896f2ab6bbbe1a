"""A scripted scenario with figures known in advance, checked three ways: through the JSON
API, on the dashboard's pages (tests/api/dashboard/test_dashboard_browser.py) and in
``GET /metrics``.

Eleven customers enter ``spring_offer`` (tests/dashboard_journeys/), an A/B test of an
offer's subject line. Each one's part is written in ``PEOPLE``: the SMTP server refuses
one offer (a dead letter), the ESP (Postmark's webhook) reports deliveries, a bounce and
a complaint, people open the pixel and click the link (taken from the caught mail, with a
browser's user agent), a link scanner and an image proxy hit one email and are not
counted, one customer unsubscribes with one click, four place an order (the goal) and one
closes their account (an exit). ``EXPECTED`` is what that must come to, written out by
hand; ``derived()`` checks it against ``PEOPLE``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import select

from journeys.devstack.mail_catcher import CaughtMail, _SaveToDirectory, read_mailbox
from journeys.storage.tables import MessageRow, utcnow
from tests.conftest import wait_until
from tests.journeys.telemetry.scrape import Scrape
from tests.live_stack import Stack
from workflows.variants import choose_variant

JOURNEY = "spring_offer"
SPLIT, VARIANTS = "subject", {"control": 50, "bold": 50}
OFFER, FOLLOW_UP = "send:spring_offer", "send:spring_follow_up"
WAITING, SLEEPING = "wait:email.bounced|email.clicked", "after the follow-up"
SHOP = "https://shop.example/spring?utm=offer"
HOOK_USER, HOOK_PASSWORD = "hooks", "s3cret"
SETTINGS: dict[str, Any] = {
    "journey_packages": "tests.dashboard_journeys",
    "templates_dir": Path(__file__).parent / "dashboard_journeys" / "templates",
    "tracking_scanner_window_seconds": 0,  # the test clicks at once; scanners are told by their agent here
    "postmark_webhook_username": HOOK_USER,
    "postmark_webhook_password": HOOK_PASSWORD,
}
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel)"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


@dataclass(frozen=True)
class Person:
    name: str
    variant: str
    refused: bool = False  # the SMTP server refuses the offer: failed, a dead letter
    delivered: bool = False  # the ESP reports it delivered ...
    bounced: bool = False  # ... or hard-bounced (the journey ends: completed)
    pixel: bool = False  # a person loads the open pixel
    clicks: bool = False  # a person clicks the offer's link: the follow-up goes out
    machines: bool = False  # a link scanner clicks and an image proxy opens: neither counts
    complains: bool = False
    unsubscribes: bool = False  # one click on the List-Unsubscribe link
    converts: bool = False  # places an order: the goal, which ends the journey
    closes_account: bool = False  # the exit event

    @property
    def email(self) -> str:
        return f"{self.name}@example.com"


PEOPLE = (
    Person("amelia", "control", delivered=True, pixel=True, clicks=True, converts=True),
    Person("gus", "control", delivered=True, pixel=True, clicks=True),
    Person("hana", "control", delivered=True, pixel=True),
    Person("dara", "control", delivered=True, machines=True),
    Person("jo", "control", bounced=True),
    Person("fay", "control", refused=True),
    Person("ben", "bold", delivered=True, pixel=True, clicks=True, converts=True),
    Person("chloe", "bold", delivered=True, pixel=True, clicks=True, converts=True),
    Person("ivan", "bold", delivered=True, clicks=True, converts=True),  # a click is an open, pixel or not
    Person("emil", "bold", delivered=True, pixel=True, complains=True, closes_account=True),
    Person("kai", "bold", delivered=True, unsubscribes=True),
)
REFUSED = next(p for p in PEOPLE if p.refused)


def _steps(offer: dict[str, int], follow_ups: int) -> dict[str, dict[str, int]]:
    blank = dict.fromkeys(("sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed"), 0)
    return {OFFER: {**blank, **offer}, FOLLOW_UP: {**blank, "sent": follow_ups}}


# What the scenario comes to, worked out by hand from PEOPLE (rates are per email sent).
EXPECTED: dict[str, Any] = {
    "journey": {
        "entered": 11, "active": 5, "completed": 1, "cancelled": 0,
        "exited": {"order.placed": 4, "account.closed": 1}, "converted": {"order.placed": 4},
    },
    "steps": _steps({"sent": 10, "delivered": 9, "opened": 7, "clicked": 5, "bounced": 1, "complained": 1, "unsubscribed": 1}, 5),
    "not_sent": {OFFER: {"failed": 1}, FOLLOW_UP: {}},
    "variants": {
        "control": {
            "entered": 6, "active": 4, "completed": 1, "exited": {"order.placed": 1}, "converted": {"order.placed": 1},
            "steps": _steps({"sent": 5, "delivered": 4, "opened": 3, "clicked": 2, "bounced": 1}, 2),
        },
        "bold": {
            "entered": 5, "active": 1, "completed": 0, "exited": {"order.placed": 3, "account.closed": 1},
            "converted": {"order.placed": 3},
            "steps": _steps({"sent": 5, "delivered": 5, "opened": 4, "clicked": 3, "complained": 1, "unsubscribed": 1}, 3),
        },
    },
    # Where the running journeys wait (Temporal): hana, dara, fay, kai for a click; gus after his follow-up.
    "now": {WAITING: 4, SLEEPING: 1},
}


def derived() -> dict[str, Any]:
    """EXPECTED again, counted from PEOPLE: the two must agree."""
    def count(people: list[Person]) -> dict[str, Any]:
        ended = [p for p in people if p.bounced or p.converts or p.closes_account]
        exited = {"order.placed": sum(p.converts for p in people), "account.closed": sum(p.closes_account and not p.converts for p in people)}
        offer = {
            "sent": sum(not p.refused for p in people), "delivered": sum(p.delivered for p in people),
            "opened": sum(p.pixel or p.clicks for p in people), "clicked": sum(p.clicks for p in people),
            "bounced": sum(p.bounced for p in people), "complained": sum(p.complains for p in people),
            "unsubscribed": sum(p.unsubscribes for p in people),
        }
        return {
            "entered": len(people), "active": len(people) - len(ended), "completed": sum(p.bounced for p in people),
            "exited": {k: v for k, v in exited.items() if v}, "converted": {"order.placed": sum(p.converts for p in people)},
            "steps": _steps({k: v for k, v in offer.items() if v}, sum(p.clicks for p in people)),
        }

    overall = count(list(PEOPLE))
    steps = overall.pop("steps")
    return {
        "journey": {**overall, "cancelled": 0},
        "steps": steps,
        "not_sent": {OFFER: {"failed": sum(p.refused for p in PEOPLE)}, FOLLOW_UP: {}},
        "variants": {v: count([p for p in PEOPLE if p.variant == v]) for v in ("control", "bold")},
        "now": {WAITING: sum(not (p.bounced or p.converts or p.closes_account or p.clicks) for p in PEOPLE),
                SLEEPING: sum(p.clicks and not p.converts for p in PEOPLE)},
    }


def api_view(figures: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/journeys/{journey}/analytics`` in EXPECTED's shape."""
    def journey_level(f: dict[str, Any]) -> dict[str, Any]:
        return {key: f[key] for key in ("entered", "active", "completed", "exited", "converted")}

    def steps(f: dict[str, Any]) -> dict[str, dict[str, int]]:
        return {s["step"]: {k: v for k, v in s.items() if k not in ("step", "not_sent", "rates")} for s in f["steps"]}

    [split] = [s for s in figures["splits"] if s["split"] == SPLIT]
    return {
        "journey": {**journey_level(figures), "cancelled": figures["cancelled"]},
        "steps": steps(figures),
        "not_sent": {s["step"]: s["not_sent"] for s in figures["steps"]},
        "variants": {v["variant"]: {**journey_level(v), "steps": steps(v)} for v in split["variants"]},
        "now": figures["live"]["by_step"],
    }


@dataclass
class Played:
    before: Scrape  # /metrics before the scenario began
    offers: dict[str, CaughtMail]  # by person's name
    message_ids: dict[str, str]  # the offer's message id, by person's name
    dead_letter: str  # the refused offer's dead-letter id


@contextmanager
def smtp_refusing_once(address: str) -> Iterator[None]:
    """The mail catcher answers DATA for ``address`` with a 554 once (as a server refusing
    the content would); every other message, and the next one to it, is taken."""
    original = _SaveToDirectory.handle_DATA
    refused: list[str] = []

    async def handle_DATA(self: _SaveToDirectory, server: Any, session: Any, envelope: Any) -> str:
        if address in envelope.rcpt_tos and not refused:
            refused.append(address)
            return "554 5.7.1 Message refused: content rejected by policy"
        return await original(self, server, session, envelope)

    _SaveToDirectory.handle_DATA = handle_DATA  # type: ignore[method-assign]
    try:
        yield
    finally:
        _SaveToDirectory.handle_DATA = original  # type: ignore[method-assign]


async def scrape(http: httpx.AsyncClient) -> Scrape:
    answer = await http.get("/metrics")
    assert answer.status_code == 200
    return Scrape(answer.text)


async def mails_to(stack: Stack, count: int) -> list[CaughtMail]:
    return await stack.wait_for_mail(count, deadline=20.0)


async def offer_statuses(stack: Stack) -> dict[str, str]:
    async with stack.db.session() as session:
        rows = (await session.exec(select(MessageRow).where(MessageRow.journey == JOURNEY, MessageRow.template == "spring_offer"))).all()
    return {row.customer_id: row.status for row in rows}


async def postmark(http: httpx.AsyncClient, record: dict[str, Any]) -> None:
    basic = base64.b64encode(f"{HOOK_USER}:{HOOK_PASSWORD}".encode()).decode()
    answer = await http.post(
        "/v1/webhooks/postmark", content=json.dumps(record).encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text


def _link(mail: CaughtMail, pattern: str) -> str:
    found = re.search(pattern, mail.html)
    assert found, f"no {pattern} in the mail to {mail.to}"
    return found[1]


async def play(stack: Stack, http: httpx.AsyncClient) -> Played:
    """Run the scenario against the live stack and wait until its figures have settled."""
    for person in PEOPLE:  # the split is by customer: the script's variants are the journey's
        assert choose_variant(JOURNEY, SPLIT, person.name, VARIANTS) == person.variant, person
    before = await scrape(http)
    profiles = [http.put(f"/v1/customers/{p.name}", json={"email": p.email, "attributes": {"first_name": p.name.title()}}) for p in PEOPLE]
    assert all(r.status_code in (200, 201) for r in await asyncio.gather(*profiles))
    events = [{"id": f"offer-{p.name}", "type": "offer.started", "customer_id": p.name, "properties": {"url": SHOP}} for p in PEOPLE]
    with smtp_refusing_once(REFUSED.email):
        assert (await http.post("/v1/events", json={"events": events})).json()["accepted"] == len(PEOPLE)

        async def offers_final() -> bool:
            statuses = await offer_statuses(stack)
            return len(statuses) == len(PEOPLE) and all(s in ("sent", "failed") for s in statuses.values())

        await wait_until(offers_final, timeout=20, what="every offer sent, or refused")
    assert (await offer_statuses(stack))[REFUSED.name] == "failed"
    offers = {m.to.split("@")[0]: m for m in await mails_to(stack, len(PEOPLE) - 1)}
    message_ids = {name: str(mail.message["X-Journeys-Message-Id"]) for name, mail in offers.items()}
    web = httpx.AsyncClient(headers={"User-Agent": CHROME}, timeout=10)
    async with web:
        for p in PEOPLE:
            if p.refused:
                continue
            mail, ours, at = offers[p.name], message_ids[p.name], utcnow().isoformat()
            esp = {"MessageID": str(mail.message["Message-ID"]).strip("<> "), "Metadata": {"journeys_message_id": ours}}
            if p.delivered:
                await postmark(http, {"RecordType": "Delivery", "Recipient": p.email, "DeliveredAt": at, **esp})
            if p.bounced:
                await postmark(http, {"RecordType": "Bounce", "ID": f"b-{ours}", "Type": "HardBounce", "Email": p.email,
                                      "BouncedAt": at, "Details": "smtp;550 5.1.1 The email account does not exist", **esp})
            pixel, link = _link(mail, r'<img src="([^"]+/t/o/[^"]+)"'), _link(mail, r'<a href="([^"]+/t/c/[^"]+)"')
            if p.machines:
                assert (await web.get(link, headers={"User-Agent": SCANNER})).status_code == 302
                assert (await web.get(pixel, headers={"User-Agent": GMAIL_PROXY})).status_code == 200
            if p.pixel:
                assert (await web.get(pixel)).status_code == 200
            if p.clicks:
                clicked = await web.get(link)
                assert clicked.status_code == 302 and clicked.headers["location"] == SHOP
            if p.complains:
                await postmark(http, {"RecordType": "SpamComplaint", "ID": f"c-{ours}", "Email": p.email, "BouncedAt": at, **esp})
            if p.unsubscribes:
                one_click = re.search(r"<(https?://[^>]+/u/[^>]+)>", str(mail.message["List-Unsubscribe"]))
                assert one_click, mail.message["List-Unsubscribe"]
                answer = await web.post(one_click[1], content=b"List-Unsubscribe=One-Click",
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
                assert answer.status_code == 200
    # A click brings the follow-up; the order (the goal) comes after it, so every follow-up goes.
    await mails_to(stack, len(PEOPLE) - 1 + sum(p.clicks for p in PEOPLE))

    async def follow_ups_recorded() -> bool:
        # The catcher has a mail a moment before the ledger records it sent: the orders
        # wait for the ledger, so no journey is mid-send when its goal arrives (an exit
        # mid-send is the engine's own tests' business: tests/workflows/test_exit_mid_send.py).
        async with stack.db.session() as session:
            rows = (await session.exec(select(MessageRow).where(MessageRow.template == "spring_follow_up"))).all()
        return len(rows) == sum(p.clicks for p in PEOPLE) and all(r.status == "sent" for r in rows)

    await wait_until(follow_ups_recorded, timeout=20, what="every follow-up recorded as sent")
    later = [{"id": f"order-{p.name}", "type": "order.placed", "customer_id": p.name} for p in PEOPLE if p.converts]
    later += [{"id": f"closed-{p.name}", "type": "account.closed", "customer_id": p.name} for p in PEOPLE if p.closes_account]
    assert (await http.post("/v1/events", json={"events": later})).json()["accepted"] == len(later)

    async def settled() -> bool:
        figures = (await http.get(f"/v1/journeys/{JOURNEY}/analytics")).json()
        return api_view(figures) == EXPECTED

    try:
        await wait_until(settled, timeout=60, what="the scenario's figures")
    except AssertionError:  # the comparison below says what differs
        pass
    letters = (await http.get("/v1/dead-letters")).json()
    assert [(d["customer_id"], d["status"]) for d in letters] == [(REFUSED.name, "failed")], letters
    return Played(before, offers, message_ids, letters[0]["id"])


def metric_deltas(before: Scrape, after: Scrape) -> dict[str, float]:
    """What the scenario moved in /metrics (the registry is the process's: compare two scrapes)."""
    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    def sends(journey: str, status: str) -> float:
        return sum(
            s.value - before.value(s.name, **s.labels) for s in after.samples
            if s.name == "journeys_sends_total" and s.labels.get("journey") == journey and s.labels.get("status") == status
        )

    return {
        "offers and follow-ups sent": sends(JOURNEY, "sent"),
        "sends failed": sends(JOURNEY, "failed"),
        "one-off sends": sends("message", "sent"),
        "events from the API": delta("journeys_events_accepted_total", source="api"),
        "events from ESP webhooks": delta("journeys_events_accepted_total", source="webhook"),
        "webhook requests": delta("journeys_http_requests_total", route="/v1/webhooks/{provider}", method="POST", status="200"),
        "pixel hits": delta("journeys_http_requests_total", route="/t/o/{token}", method="GET", status="200"),
        "link hits": delta("journeys_http_requests_total", route="/t/c/{token}", method="GET", status="302"),
        "one-click unsubscribes": delta("journeys_http_requests_total", route="/u/{token}", method="POST", status="200"),
        "dashboard retries": delta("journeys_http_requests_total", route="/dashboard/dead-letters/{letter_id}/retry", method="POST", status="303"),
        "dead letters": after.value("journeys_dead_letters", kind="message") + after.value("journeys_dead_letters", kind="event"),
    }


def expected_metrics(*, retried: bool) -> dict[str, float]:
    """The same scenario, as /metrics must count it (before and after the dashboard's Retry)."""
    sent = [p for p in PEOPLE if not p.refused]
    return {
        "offers and follow-ups sent": len(sent) + sum(p.clicks for p in PEOPLE),
        "sends failed": sum(p.refused for p in PEOPLE),
        "one-off sends": 1 if retried else 0,  # the retried offer goes out as a one-off
        "events from the API": len(PEOPLE) + sum(p.converts or p.closes_account for p in PEOPLE),
        "events from ESP webhooks": sum(p.delivered + p.bounced + p.complains for p in sent),
        "webhook requests": sum(p.delivered + p.bounced + p.complains for p in sent),
        "pixel hits": sum(p.pixel + p.machines for p in sent),
        "link hits": sum(p.clicks + p.machines for p in sent),
        "one-click unsubscribes": sum(p.unsubscribes for p in PEOPLE),
        "dashboard retries": 1 if retried else 0,
        "dead letters": 0 if retried else 1,
    }


def mailbox(stack: Stack) -> list[CaughtMail]:
    return read_mailbox(stack.mail_dir)
