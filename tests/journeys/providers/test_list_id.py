"""List-Id (RFC 2919): every marketing email names its topic's list on the From domain;
transactional mail is no list and carries none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.deliver import DeliveryActivities
from journeys.contracts.activity_io import DeliverInput
from journeys.contracts.customers import CustomerIn
from journeys.customers.profiles import upsert_customer
from journeys.devstack.mail_catcher import MailCatcher, read_mailbox
from journeys.providers.list_id import list_id
from journeys.providers.smtp.sender import SmtpSender
from journeys.storage.database import Database
from journeys.storage.settings import Settings
from tests.conftest import free_port


@pytest.mark.parametrize(
    ("topic", "from_email", "expected"),
    [
        ("offers", "Shop <hello@Shop.Example.com>", "Shop offers <offers.shop.example.com>"),
        ("product_news", "hello@shop.example.com", "product_news <product_news.shop.example.com>"),
        ("offers", "Bücher & Co <hallo@bücher.de>", "=?utf-8?q?B=C3=BCcher_=26_Co_offers?= <offers.xn--bcher-kva.de>"),
        ("offers", '"Shop \\"Deals\\", Inc" <a@shop.example>', '"Shop \\"Deals\\", Inc offers" <offers.shop.example>'),
    ],
)
def test_a_topic_is_a_list_on_the_from_domain(topic: str, from_email: str, expected: str) -> None:
    assert list_id(topic, from_email) == expected
    assert list_id(topic, from_email).isascii(), "a header value every ESP takes as it is"


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[MailCatcher]:
    with MailCatcher(tmp_path / "mail", port=free_port()) as running:
        yield running


def template(root: Path, name: str, toml: str) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "template.toml").write_text(toml)
    (root / name / "subject.txt").write_text(f"{name} for you")
    (root / name / "body.html").write_text("<p>Hello</p>")
    (root / name / "body.txt").write_text("Hello")


async def test_marketing_mail_carries_list_id_and_transactional_mail_does_not(
    db: Database, catcher: MailCatcher, tmp_path: Path
) -> None:
    root = tmp_path / "templates"
    template(root, "promo", 'category = "marketing"\ntopic = "offers"\n')
    template(root, "receipt", 'category = "transactional"\n')
    settings = Settings(
        templates_dir=root, public_url="https://journeys.example", unsubscribe_secret="s", from_email="Shop <hello@shop.example.com>",
        frequency_cap_24h=0, frequency_cap_7d=0,
    )
    delivery = DeliveryActivities(db, SmtpSender("127.0.0.1", catcher.port, timeout=5), settings)
    async with db.session() as session:
        await upsert_customer(session, db, "ann", CustomerIn(email="ann@example.com"))
    for name in ("promo", "receipt"):
        step = DeliverInput(idempotency_key=f"j/ann/{name}", customer_id="ann", template=name, journey="j", step=name, context={})
        assert (await ActivityEnvironment().run(delivery.deliver, step)).status == "sent"
    mails = {mail.subject: mail.message for mail in read_mailbox(catcher.directory)}
    assert mails["promo for you"]["List-Id"] == "Shop offers <offers.shop.example.com>"
    assert mails["promo for you"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "List-Id" not in mails["receipt for you"] and "List-Unsubscribe" not in mails["receipt for you"]


def test_an_idn_domain_is_written_as_the_from_header_writes_it() -> None:
    # IDNA 2008: "ß" stays a letter of its own (xn--fa-hia), not "ss" (another domain, fass.de).
    assert list_id("offers", "News <news@faß.de>").endswith("<offers.xn--fa-hia.de>")
