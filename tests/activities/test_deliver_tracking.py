"""Delivery tracks what the template's category (or template.toml) says: links rewritten to
signed redirects naming the message's row, the URLs stored on it, an open pixel."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select
from temporalio.testing import ActivityEnvironment

from activities.deliver import DeliveryActivities
from journeys.contracts.activity_io import DeliverInput
from journeys.contracts.customers import CustomerIn
from journeys.consent.unsubscribe_tokens import UnsubscribeClaims
from journeys.consent.unsubscribe_tokens import read_token as read_unsubscribe_token
from journeys.customers.profiles import upsert_customer
from journeys.devstack.mail_catcher import CaughtMail, MailCatcher, read_mailbox
from journeys.providers.smtp.sender import SmtpSender
from journeys.storage.database import Database
from journeys.storage.settings import Settings
from journeys.storage.tables import MessageRow, utcnow
from journeys.tracking.tokens import TrackingClaims, read_token, tracking_key
from tests.conftest import free_port

PUBLIC = "https://journeys.example"
SECRET = "test-secret"
BODY = (
    '<html><body><p><a href="{{ url }}">Your cart</a> <a href="javascript:alert(1)">js</a> '
    '<a href="mailto:help@shop.example">mail us</a>{% if unsubscribe_url %} <a href="{{ unsubscribe_url }}">stop</a>{% endif %}</p>'
    "</body></html>"
)
URL = 'https://shop.example/cart?id=7&name="Zoë"'
TRACKED = re.compile(r'href="https://journeys\.example/t/c/([^"]+)"')
PIXEL = re.compile(r'<img src="https://journeys\.example/t/o/([^"]+)"[^>]*></body>')


def template(root: Path, name: str, toml: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "template.toml").write_text(toml)
    (folder / "subject.txt").write_text(f"{name} for you")
    (folder / "body.html").write_text(BODY)
    (folder / "body.txt").write_text("Your cart: {{ url }}")


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    template(root, "promo", 'category = "marketing"\ntopic = "offers"\n')
    template(root, "receipt", 'category = "transactional"\n')
    template(root, "quiet_promo", 'category = "marketing"\ntopic = "offers"\ntrack_clicks = false\n')
    return root


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[MailCatcher]:
    with MailCatcher(tmp_path / "mail", port=free_port()) as running:
        yield running


def delivery(db: Database, catcher: MailCatcher, templates: Path, **settings: object) -> DeliveryActivities:
    return DeliveryActivities(
        db,
        SmtpSender("127.0.0.1", catcher.port, timeout=5),
        Settings(templates_dir=templates, public_url=PUBLIC, unsubscribe_secret=SECRET, frequency_cap_24h=0, frequency_cap_7d=0, **settings),  # type: ignore[arg-type]
    )


def step(template: str, key: str | None = None) -> DeliverInput:
    return DeliverInput(
        idempotency_key=key or f"journey:promo:ann/e1/send:{template}", customer_id="ann", template=template,
        journey="promo", step=f"send:{template}", context={"url": URL},
    )


async def send(db: Database, catcher: MailCatcher, templates: Path, template: str, **settings: object) -> tuple[CaughtMail, MessageRow]:
    async with db.session() as session:
        await upsert_customer(session, db, "ann", CustomerIn(email="ann@example.com"))
    result = await ActivityEnvironment().run(delivery(db, catcher, templates, **settings).deliver, step(template))
    assert result.status == "sent", result.reason
    [mail] = [m for m in read_mailbox(catcher.directory) if m.subject == f"{template} for you"]
    async with db.session() as session:
        row = await session.get(MessageRow, result.message_id)
    assert row is not None
    return mail, row


async def test_a_marketing_email_has_its_links_tracked_for_its_own_row(db: Database, catcher: MailCatcher, templates: Path) -> None:
    mail, row = await send(db, catcher, templates, "promo")
    key = tracking_key(SECRET)
    tokens = TRACKED.findall(mail.html)
    assert [read_token(key, t) for t in tokens] == [TrackingClaims(row.id, "click", 0)]
    assert row.links == [URL], "stored as the browser would read the escaped href"
    assert 'href="javascript:alert(1)"' in mail.html and 'href="mailto:help@shop.example"' in mail.html
    unsubscribe = re.findall(r'href="(https://journeys\.example/u/[^"]+)"', mail.html)
    assert len(unsubscribe) == 2, "the template's own unsubscribe link and the footer's are left alone"
    [pixel] = PIXEL.findall(mail.html)
    assert read_token(key, pixel) == TrackingClaims(row.id, "open", None)
    assert f"Your cart: {URL}" in mail.text, "the text part keeps its links"


async def test_a_transactional_email_is_not_tracked(db: Database, catcher: MailCatcher, templates: Path) -> None:
    mail, row = await send(db, catcher, templates, "receipt")
    assert "/t/c/" not in mail.html and "/t/o/" not in mail.html and row.links == []
    assert 'href="https://shop.example/cart?id=7&amp;name=&#34;Zoë&#34;"' in mail.html


async def test_a_template_may_turn_click_tracking_off(db: Database, catcher: MailCatcher, templates: Path) -> None:
    mail, row = await send(db, catcher, templates, "quiet_promo")
    assert "/t/c/" not in mail.html and row.links == []
    assert PIXEL.search(mail.html), "opens are still the category's default"


async def test_settings_turn_a_category_off(db: Database, catcher: MailCatcher, templates: Path) -> None:
    mail, row = await send(db, catcher, templates, "promo", track_opens_marketing=False, track_clicks_marketing=False)
    assert "/t/c/" not in mail.html and "/t/o/" not in mail.html and row.links == []


async def test_a_retry_tracks_for_the_row_an_earlier_attempt_made(db: Database, catcher: MailCatcher, templates: Path) -> None:
    """A row from before message ids were derived from the step keeps its id: links name it."""
    now = utcnow()
    async with db.session() as session:
        await upsert_customer(session, db, "ann", CustomerIn(email="ann@example.com"))
        session.add(MessageRow(id="0123legacy", idempotency_key=step("promo").idempotency_key, customer_id="ann", template="promo",
                               status="retrying", attempts=1, history=[], created_at=now, updated_at=now))
        await session.commit()
    result = await ActivityEnvironment().run(delivery(db, catcher, templates).deliver, step("promo"))
    assert result.status == "sent" and result.message_id == "0123legacy"
    [mail] = read_mailbox(catcher.directory)
    [token] = TRACKED.findall(mail.html)
    assert read_token(tracking_key(SECRET), token).message_id == "0123legacy"
    async with db.session() as session:
        [row] = (await session.exec(select(MessageRow))).all()
    assert row.links == [URL]


async def test_the_unsubscribe_link_names_the_message_it_came_in(db: Database, catcher: MailCatcher, templates: Path) -> None:
    """So an unsubscribe is counted against the send step that caused it (analytics)."""
    mail, row = await send(db, catcher, templates, "promo")
    tokens = set(re.findall(r'href="https://journeys\.example/u/([^"]+)"', mail.html))
    tokens |= set(re.findall(r"<https://journeys\.example/u/([^>]+)>", mail.message["List-Unsubscribe"]))
    claims = {read_unsubscribe_token(SECRET, token) for token in tokens}
    assert claims == {UnsubscribeClaims(customer_id="ann", topic="offers", message_id=row.id)}
