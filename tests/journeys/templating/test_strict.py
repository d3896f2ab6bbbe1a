"""strict = true: a missing variable fails the render, naming the template, the variable
and where it is used; delivery makes that a non-retryable failure, logged as failed, a
dead letter. Without it, missing data renders empty as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.deliver import DeliveryActivities
from journeys.contracts.activity_io import DeliverInput
from journeys.contracts.customers import CustomerIn
from journeys.customers.profiles import upsert_customer
from journeys.operations.dead_letters import list_dead_letters
from journeys.providers.smtp.sender import SmtpSender
from journeys.storage.database import Database
from journeys.storage.settings import Settings
from journeys.templating.catalog import TemplateCatalog, TemplateError
from journeys.templating.renderer import TemplateRenderer
from tests.conftest import free_port
from tests.journeys.templating.support import write
from workflows.registry import discover

STRICT = 'category = "transactional"\nstrict = true\n'
BODY = """<p>Hi {{ customer.attributes.first_name | default("there") }},</p>
{% if order.coupon is defined %}<p>Coupon {{ order.coupon }}</p>{% endif %}
<p>Total: {{ order.total }}</p>
{% for item in order["items"] %}<p>{{ item.name }}: {{ item.price }}</p>{% endfor %}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    write(root, "receipt", {"subject.txt": "Order {{ order.id }}", "body.html": BODY}, toml=STRICT)
    write(root, "lenient", {"subject.txt": "Order {{ order.id }}", "body.html": BODY})
    return root


ORDER = {"id": "7", "total": "10.00", "items": [{"name": "Mug", "price": "4.00"}, {"name": "Tea", "price": "6.00"}]}


def test_strict_renders_what_is_there_and_what_is_asked_for_with_is_defined(root: Path) -> None:
    email = TemplateRenderer(root).render("receipt", {"order": ORDER, "customer": {"attributes": {}}})
    assert "<p>Hi there,</p>" in email.html and "<p>Total: 10.00</p>" in email.html and "Coupon" not in email.html


@pytest.mark.parametrize(("order", "missing", "where"), [
    ({k: v for k, v in ORDER.items() if k != "total"}, "'order.total'", "receipt/body.html line 3"),
    ({**ORDER, "items": [{"name": "Mug", "price": "4"}, {"name": "Tea"}]}, "'order.items[1].price'", "receipt/body.html line 4"),
    (None, "'order'", "receipt/subject.txt line 1"),
])
def test_a_missing_variable_fails_naming_the_template_the_variable_and_the_line(
    root: Path, order: dict[str, object] | None, missing: str, where: str
) -> None:
    context: dict[str, object] = {"customer": {"attributes": {}}}
    if order is not None:
        context["order"] = order
    with pytest.raises(TemplateError) as raised:
        TemplateRenderer(root).render("receipt", context)
    assert str(raised.value) == f"template 'receipt' is strict and {missing} is missing ({where})"


def test_without_strict_missing_data_renders_empty(root: Path) -> None:
    email = TemplateRenderer(root).render("lenient", {})
    assert email.subject == "Order" and "<p>Total: </p>" in email.html


def test_strict_must_be_a_boolean(tmp_path: Path) -> None:
    write(tmp_path, "t", {"subject.txt": "x", "body.html": "x"}, toml='category = "transactional"\nstrict = "yes"\n')
    with pytest.raises(TemplateError, match="strict must be true or false"):
        TemplateCatalog(tmp_path).get("t")
    assert TemplateCatalog(tmp_path / "none").names() == []


class _Sink:
    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        return "250 OK"


async def test_delivery_fails_a_strict_template_for_good_logs_it_and_makes_a_dead_letter(db: Database, root: Path) -> None:
    smtp = Controller(_Sink(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        async with db.session() as session:
            await upsert_customer(session, db, "ann", CustomerIn(email="ann@example.com"))
        delivery = DeliveryActivities(db, SmtpSender("127.0.0.1", smtp.port, timeout=5),
                                      Settings(templates_dir=root, unsubscribe_secret="test-secret"))
        step = DeliverInput(idempotency_key="journey:shop:ann/e1/send:receipt", customer_id="ann", template="receipt",
                            journey="shop", step="send:receipt", context={"order": {"id": "7", "items": []}})
        with pytest.raises(ApplicationError) as raised:
            await ActivityEnvironment().run(delivery.deliver, step)
    finally:
        smtp.stop()
    assert raised.value.non_retryable and raised.value.type == "TemplateError"
    reason = "template 'receipt' is strict and 'order.total' is missing (receipt/body.html line 3)"
    assert raised.value.message == reason
    [letter] = await list_dead_letters(db, discover(), kind="message")
    assert (letter.status, letter.reason, letter.template, letter.customer_id) == ("failed", reason, "receipt", "ann")
