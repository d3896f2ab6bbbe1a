"""Journeys' own tracking, for real: a marketing email goes out over SMTP with its links
rewritten and a pixel, a person's click redirects and moves the journey on, a scanner's
does not, forged links lead nowhere.

Real parts: the Temporal dev server, the worker, the API on loopback, the mail catcher.
The templates are the shipped ones, copied, with links added to ``cart_reminder`` (a
marketing email) and ``welcome`` (transactional), and a ``quiet_offer`` that turns click
tracking off in its template.toml.
"""

from __future__ import annotations

import re
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from markupsafe import escape
from sqlalchemy import update
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from journeys.devstack.mail_catcher import CaughtMail
from journeys.storage.analytics_tables import MessageEventRow
from journeys.storage.database import Database
from journeys.storage.settings import PROJECT_ROOT, Settings
from journeys.storage.tables import EventRow, MessageRow, utcnow
from journeys.tracking.links import as_location
from journeys.contracts.signed_tokens import _b64
from journeys.tracking.tokens import _FORMAT, click_token, read_token, tracking_key
from tests.conftest import wait_until
from tests.live_stack import Stack, live_stack

SHOP = "https://shop.example/cart?id=7&name=\"Zoë\"&emoji=🛒"
LINKS_HTML = (
    '<p><a href="{{ cart.url }}">Back to your cart</a> · <a href="javascript:alert(1)">js</a> · '
    '<a href="mailto:help@shop.example">Write to us</a> · <a href="{{ unsubscribe_url }}">No more offers</a></p>\n'
)
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
BROWSER = {"User-Agent": CHROME}


def templates_with_links(root: Path) -> Path:
    copy = root / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", copy)
    for name in ("cart_reminder", "welcome"):
        html = copy / name / "body.html"
        # The links first in the layout's content block, and the shipped button left out,
        # so the shop link is the email's only tracked one. The text part is derived from
        # the HTML, links as "text (url)".
        body = re.sub(r"\{\{ ui\.button\(.*\) \}\}\n", "", html.read_text())
        html.write_text(body.replace("{% block content %}\n", "{% block content %}\n" + LINKS_HTML))
    shutil.copytree(copy / "cart_reminder", copy / "quiet_offer")
    (copy / "quiet_offer" / "template.toml").write_text('category = "marketing"\ntopic = "offers"\ntrack_clicks = false\n')
    (copy / "quiet_offer" / "subject.txt").write_text("A quiet offer")
    return copy


def hrefs(mail: CaughtMail) -> list[str]:
    return re.findall(r'<a href="([^"]*)"', mail.html)


async def clicks_of(db: Database, message_id: str) -> list[MessageEventRow]:
    async with db.session() as session:
        rows = await session.exec(
            select(MessageEventRow).where(MessageEventRow.message_id == message_id, MessageEventRow.type == "email.clicked")
        )
        return sorted(rows.all(), key=lambda r: r.occurred_at)


async def stored(db: Database, customer: str, type: str) -> list[EventRow]:
    async with db.session() as session:
        return list((await session.exec(select(EventRow).where(EventRow.customer_id == customer, EventRow.type == type))).all())


async def set_sent_at(db: Database, message_id: str, ago: timedelta) -> None:
    """When the ledger says it was sent: no test sleeps out the scanner window."""
    async with db.session() as session:
        await session.exec(update(MessageRow).where(col(MessageRow.id) == message_id).values(sent_at=utcnow() - ago))  # type: ignore[call-overload]
        await session.commit()


async def sent_row(stack: Stack, http: httpx.AsyncClient, customer: str, template: str) -> MessageRow:
    async def logged_as_sent() -> bool:
        log = (await http.get(f"/v1/customers/{customer}/messages")).json()
        return any(m["template"] == template and m["status"] == "sent" for m in log)

    await wait_until(logged_as_sent, what=f"{template} logged as sent")
    async with stack.db.session() as session:
        [row] = (await session.exec(select(MessageRow).where(MessageRow.customer_id == customer, MessageRow.template == template))).all()
    return row


async def test_a_tracked_click_redirects_and_moves_the_journey_on(dev_server: WorkflowEnvironment, tmp_path: Path) -> None:
    customer = f"trk-{uuid.uuid4().hex[:6]}"
    async with live_stack(dev_server, tmp_path, journey_packages="tests.tracking_journeys", templates_dir=templates_with_links(tmp_path)) as stack:
        key = tracking_key(Settings(home=tmp_path).resolved_unsubscribe_secret())  # the stack's dev secret
        async with stack.http() as http, httpx.AsyncClient(headers=BROWSER) as browser:
            await http.put(f"/v1/customers/{customer}", json={"email": "ann@example.com"})
            offer = {"id": f"{customer}-offer", "type": "offer.requested", "customer_id": customer, "properties": {"url": SHOP}}
            assert (await http.post("/v1/events", json=offer)).status_code == 202
            [mail] = await stack.wait_for_mail(1)
            row = await sent_row(stack, http, customer, "cart_reminder")

            # What the email carries: the shop link tracked, the rest as written, a pixel.
            links = hrefs(mail)
            assert links[0].startswith(f"{stack.base_url}/t/c/t1.")
            assert read_token(key, links[0].rsplit("/", 1)[1]).message_id == row.id
            assert links[1:3] == ["javascript:alert(1)", "mailto:help@shop.example"]
            unsubscribe = [link for link in links if link.startswith(f"{stack.base_url}/u/u1.")]
            assert len(unsubscribe) == 2, "the template's unsubscribe link and the footer's are not rewritten"
            assert not [link for link in links[1:] if "/t/c/" in link]
            assert re.search(rf'<img src="{re.escape(stack.base_url)}/t/o/t1\.[^"]+"[^>]*>\s*</body>', mail.html)
            assert SHOP in mail.text, "the text part keeps the link as written"
            assert row.links == [SHOP]

            # Clicked the moment it was sent: a scanner, redirected but not dispatched.
            await set_sent_at(stack.db, row.id, timedelta(0))
            early = await browser.get(links[0])
            assert early.status_code == 302
            # Clicked later, but by a scanner's user agent: the same.
            await set_sent_at(stack.db, row.id, timedelta(minutes=5))
            scanner = await browser.get(links[0], headers={"User-Agent": "Mozilla/5.0 (compatible; Barracuda Sentinel)"})
            assert scanner.status_code == 302
            assert [(h.machine, (h.detail or "").split(" ")[0]) for h in await clicks_of(stack.db, row.id)] == [
                ("scanner", "clicked"), ("scanner", "user"),
            ]
            assert await stored(stack.db, customer, "email.clicked") == []

            # A person's click: 302 to the URL the email had, an event, the journey moves on.
            person = await browser.get(links[0])
            assert person.status_code == 302 and person.headers["location"] == as_location(SHOP)
            assert person.headers["cache-control"] == "no-store" and person.headers["referrer-policy"] == "no-referrer"
            [clicked] = await stored(stack.db, customer, "email.clicked")
            assert clicked.properties["url"] == SHOP and clicked.properties["template"] == "cart_reminder"
            [_, follow_up] = await stack.wait_for_mail(2)
            assert follow_up.subject.startswith("Welcome to Journeys")
            # The transactional welcome is not tracked by default.
            assert "/t/c/" not in follow_up.html and "/t/o/" not in follow_up.html
            # Its link as written, escaped (&quot; once the CSS inliner has re-serialized the HTML).
            assert hrefs(follow_up)[0] == str(escape(SHOP)).replace("&#34;", "&quot;")

            again = await browser.get(links[0])
            assert again.status_code == 302
            assert len(await stored(stack.db, customer, "email.clicked")) == 1, "a second click stores no second event"
            assert [h.machine for h in await clicks_of(stack.db, row.id)] == ["scanner", "scanner", None, None]

            # Forged links: 404, a page, no redirect, nothing recorded.
            version, payload, signature = links[0].rsplit("/", 1)[1].split(".")
            other_payload = click_token(key, "0" * 32, 0).split(".")[1]
            for token in (
                f"{version}.{payload}.{signature[::-1]}",  # signature altered
                f"{version}.{other_payload}.{signature}",  # another message's payload, this signature
                click_token(key, row.id, 1),  # a link the message does not have
                f"{version}.{payload}.{_b64(_FORMAT._sign(tracking_key('guessed'), payload))}",
            ):
                forged = await browser.get(f"{stack.base_url}/t/c/{token}")
                assert forged.status_code == 404 and "location" not in forged.headers
                assert forged.headers["content-type"].startswith("text/html") and "Link not valid" in forged.text
            assert len(await clicks_of(stack.db, row.id)) == 4

            # The pixel: a person's open is an event; the journey's history shows both.
            pixel = re.search(r'<img src="([^"]+)"', mail.html)
            assert pixel is not None
            opened = await browser.get(pixel[1])
            assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif" and len(opened.content) == 43
            assert len(await stored(stack.db, customer, "email.opened")) == 1
            log = (await http.get(f"/v1/customers/{customer}/messages")).json()
            assert [h["status"] for h in log[0]["history"]][-2:] == ["email.clicked", "email.opened"]

            # A template that turns click tracking off: links as written, opens still tracked.
            quiet = await http.post(
                f"/v1/customers/{customer}/messages", json={"id": f"{customer}-q", "template": "quiet_offer", "context": {"cart": {"url": SHOP}}}
            )
            assert quiet.status_code == 202
            mails = await stack.wait_for_mail(3)
            [quiet_mail] = [m for m in mails if m.subject == "A quiet offer"]
            assert "/t/c/" not in quiet_mail.html and hrefs(quiet_mail)[0].startswith("https://shop.example/cart?id=7")
            assert "/t/o/t1." in quiet_mail.html
