"""Whatever goes wrong in a render is a TemplateError naming the template and the line, never
another exception: delivery fails the step for good and logs it (any other exception would
be retried for ever, with nothing in the message log), previews answer 422, and `journeys
templates check` prints an error line. Dates with time fields in a pattern, zones that are
no zone, non-finite numbers, and a dict's missing key that is also a method's name."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.deliver import DeliveryActivities
from journeys.contracts.activity_io import DeliverInput
from journeys.contracts.customers import CustomerIn
from journeys.customers.profiles import upsert_customer
from journeys.providers.smtp.sender import SmtpSender
from journeys.storage.database import Database
from journeys.storage.settings import Settings
from journeys.storage.tables import MessageRow
from journeys.templating import formatting
from journeys.templating.catalog import TemplateError
from journeys.templating.formatting import zone
from journeys.templating.renderer import TemplateRenderer
from tests.conftest import free_port
from tests.journeys.templating.support import write

PLACED = {"order": {"placed_at": "2024-06-03T10:00:00Z"}}
RECURSIVE = "{% macro again(n) %}{{ again(n) }}{% endmacro %}<p>{{ again(1) }}</p>"


def render(tmp_path: Path, body: str, context: dict[str, object], *, toml: str = 'category = "transactional"\n',
           timezone_: str | None = None) -> str:
    write(tmp_path, "t", {"subject.txt": "Order", "body.html": body}, toml=toml)
    return TemplateRenderer(tmp_path).render("t", context, timezone=timezone_).html


def test_a_date_pattern_with_time_fields_formats_the_moment_on_the_customers_clock(tmp_path: Path) -> None:
    body = '<p>{{ order.placed_at | date("d MMM, HH:mm") }}|{{ order.placed_at | date("zzzz") }}|{{ order.placed_at | date("d MMMM") }}</p>'
    assert render(tmp_path, body, PLACED, timezone_="Europe/Berlin") == "<p>3 Jun, 12:00|Central European Summer Time|3 June</p>"


@pytest.mark.parametrize(("body", "context", "reason"), [
    ('<p>{{ "2024-06-03" | date("d MMM, HH:mm") }}</p>', {},
     "date: the pattern 'd MMM, HH:mm' shows a time or a zone, and '2024-06-03' is a day without a time (t/body.html line 1)"),
    ("<p>x</p>\n" + RECURSIVE, {}, "RecursionError: maximum recursion depth exceeded"),
    ('<p>{{ order.total | money("EUR") }}</p>', {"order": {"total": "NaN"}}, "money: 'NaN' is not a finite number (t/body.html line 1)"),
    ("<p>{{ n | number }}</p>", {"n": "Infinity"}, "number: 'Infinity' is not a finite number"),
    ("<p>{{ n | percent }}</p>", {"n": "-inf"}, "percent: '-inf' is not a finite number"),
    ("<p>{{ n | number }}</p>", {"n": float("nan")}, "number: nan is not a finite number"),
    ("<p>{{ n | number }}</p>", {"n": "1e999999999"}, "number: '1e999999999' is too large"),
    ('<p>{{ 1 | number("#,##0.00", x=1) }}</p>', {}, "got an unexpected keyword argument 'x'"),
])
def test_every_failure_is_a_template_error_naming_template_and_line(
    tmp_path: Path, body: str, context: dict[str, object], reason: str
) -> None:
    with pytest.raises(TemplateError) as raised:
        render(tmp_path, body, context)
    assert str(raised.value).startswith("template 't' failed to render: ") and reason in str(raised.value), raised.value
    assert "(t/body.html line" in str(raised.value)


def test_an_exception_of_any_kind_from_a_filter_is_a_template_error_naming_its_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(value: object) -> str:
        raise AttributeError("'date' object has no attribute 'hour'")

    monkeypatch.setitem(formatting.FILTERS, "broken", broken)
    write(tmp_path, "t", {"subject.txt": "{{ 1 | broken }}", "body.html": "<p>x</p>"})
    with pytest.raises(TemplateError, match=r"^template 't' failed to render: AttributeError: 'date' object has no attribute "
                       r"'hour' \(t/subject.txt line 1\)$"):
        TemplateRenderer(tmp_path).render("t", {})
    write(tmp_path, "_footer", {"body.html": "<p>{{ 1 | broken }}</p>"}, toml=None)
    with pytest.raises(TemplateError, match=r"^_footer/body.html failed to render: AttributeError: .*\(_footer/body.html line 1\)$"):
        TemplateRenderer(tmp_path).render_part("_footer/body.html", {})
    write(tmp_path, "_footer", {"body.txt": RECURSIVE}, toml=None)
    with pytest.raises(TemplateError, match="RecursionError"):
        TemplateRenderer(tmp_path).render_part("_footer/body.txt", {})


@pytest.mark.parametrize("name", ["Europe", "America", "x" * 300, "Europe/../../etc/passwd", "Nowhere/Else", "", None, 7])
def test_a_zone_that_is_no_zone_is_utc(tmp_path: Path, name: object) -> None:
    zone.cache_clear()
    assert zone(name) is timezone.utc
    assert render(tmp_path, '<p>{{ "2024-06-03T10:00:00Z" | time("HH:mm zzzz") }}</p>', {},
                  timezone_=name if isinstance(name, str) else None) == "<p>10:00 Coordinated Universal Time</p>"


def test_a_missing_key_named_like_a_dict_method_is_missing_not_the_method(tmp_path: Path) -> None:
    lenient = render(tmp_path, "{% for item in cart.items %}[{{ item }}]{% endfor %}<p>{{ cart.items }}|{{ cart.values }}|"
                     "{{ cart.get('total', 'none') }}|{{ cart.items() | list | length }}</p>", {"cart": {"cart_id": "k1"}})
    assert lenient == "<p>||none|1</p>", "lenient: empty, as any missing value; called, still the method"
    strict = 'category = "transactional"\nstrict = true\n'
    for body in ("<p>{{ order.items }}</p>", "{% if order.items %}<p>x</p>{% endif %}", "{% for i in order.items %}{% endfor %}"):
        with pytest.raises(TemplateError, match=r"^template 't' is strict and 'order.items' is missing \(t/body.html line 1\)$"):
            render(tmp_path, body, {"order": {"id": "1"}}, toml=strict)
    assert render(tmp_path, "<p>{{ order.items is defined }}</p>", {"order": {}}, toml=strict) == "<p>False</p>"


def test_html_parts_escape_data_whatever_the_included_files_extension(tmp_path: Path) -> None:
    """Autoescaping is the part's (body.html: HTML), not each included file's extension."""
    write(tmp_path, "_partials", {"greeting.txt": "Hi {{ name }},", "card.htm": "<b>{{ name }}</b>",
                                  "name.html": "{{ name }}"}, toml=None)
    write(tmp_path, "t", {"subject.txt": '{% include "_partials/name.html" %} & you',
                          "body.html": '<p>{% include "_partials/greeting.txt" %}</p>{% include "_partials/card.htm" %}',
                          "body.txt": '{% include "_partials/name.html" %}'})
    evil = '<a href="https://evil.example/login">Sign in</a>'
    email = TemplateRenderer(tmp_path).render("t", {"name": evil})
    assert "<a href" not in email.html and email.html.count("&lt;a href=&#34;https://evil.example/login&#34;&gt;") == 2
    assert email.html.startswith("<p>Hi &lt;a") and "<b>&lt;a" in email.html, "the layout's own markup stays markup"
    assert email.subject == f"{evil} & you" and email.text == evil + "\n", "subject and text are not HTML: never escaped"


class _Sink:
    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        return "250 OK"


@pytest.mark.parametrize("body", ['<p>{{ "2024-06-03" | date("HH:mm") }}</p>', RECURSIVE])
async def test_delivery_fails_such_a_template_for_good_and_logs_it(db: Database, tmp_path: Path, body: str) -> None:
    root = tmp_path / "templates"
    write(root, "order", {"subject.txt": "Order", "body.html": body})
    smtp = Controller(_Sink(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        async with db.session() as session:
            await upsert_customer(session, db, "ann", CustomerIn(email="ann@example.com"))
        delivery = DeliveryActivities(db, SmtpSender("127.0.0.1", smtp.port, timeout=5),
                                      Settings(templates_dir=root, unsubscribe_secret="test-secret"))
        step = DeliverInput(idempotency_key="journey:shop:ann/e1/send:order", customer_id="ann", template="order",
                            journey="shop", step="send:order", context={})
        with pytest.raises(ApplicationError) as raised:
            await ActivityEnvironment().run(delivery.deliver, step)
    finally:
        smtp.stop()
    assert raised.value.non_retryable and raised.value.type == "TemplateError"
    assert raised.value.message.startswith("template 'order' failed to render: ")
    async with db.session() as session:
        [row] = (await session.exec(select(MessageRow))).all()
    assert (row.status, row.reason) == ("failed", raised.value.message)
