"""The README's "Templates" examples, rendered as written: its layout, locale and MJML
blocks are written beside the shipped templates, and what the prose says they give is
what they give."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from journeys.cli.templates import report
from journeys.storage.settings import PROJECT_ROOT
from journeys.templating.checks import check_templates
from journeys.templating.renderer import TemplateRenderer
from tests.journeys.templating.support import SHIPPED, shipped_copy


def section() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text()
    return readme.split("\n## Templates\n", 1)[1].split("\n## ", 1)[0]


def examples() -> dict[str, str]:
    return dict(re.findall(r"<!-- templates-example:(\S+) -->\n```[a-z]*\n(.*?)```", section(), flags=re.S))


def said(text: str) -> str:
    """Babel's narrow and no-break spaces read as spaces in prose."""
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = shipped_copy(tmp_path)
    for path, text in examples().items():
        (root / path).parent.mkdir(exist_ok=True)
        (root / path).write_text(text)
    (root / "back_in_stock" / "subject.txt").write_text("{{ product.name }} is back in stock")
    (root / "back_in_stock" / "template.toml").write_text(
        'category = "marketing"\ntopic = "offers"\n[sample.context.product]\nname = "Blue mug"\nurl = "https://shop.example/mug"\n'
    )
    return root


def test_the_section_has_a_layout_a_locale_and_an_mjml_example() -> None:
    assert set(examples()) == {
        "order_shipped/template.toml", "order_shipped/subject.txt", "order_shipped/preheader.txt", "order_shipped/body.html",
        "order_shipped/subject.fr.txt", "order_shipped/preheader.fr.txt", "order_shipped/body.fr.html", "back_in_stock/body.mjml",
    }
    assert 'with a `subject.txt` of `{{ product.name }} is back in stock`' in section()


def test_the_layout_example_renders_what_the_readme_says(templates: Path) -> None:
    [ok] = [r for r in check_templates(templates) if r.template == "order_shipped" and r.locale == "en (default)"]
    assert ok.ok and ok.email is not None, ok.error
    email = ok.email
    assert email.subject == "Order 1042 is on its way" and email.preheader == "It left our warehouse on June 3, 2024."
    sentence = "Order 1042 (€58.90) left our warehouse on June 3, 2024 at 10:30 AM"
    assert f'"{sentence}"' in said(section()) and sentence in said(email.text)
    assert 'class="container"' in email.html and "Track your parcel" in email.html, "the layout and the ui button"


def test_the_locale_example_renders_what_the_readme_says(templates: Path) -> None:
    context = {"customer": {"locale": "fr-CA", "timezone": "Europe/Berlin", "attributes": {"first_name": "Ann"}},
               "order": {"id": "1042", "shipped_at": "2024-06-03T08:30:00Z", "total": "58.90", "currency": "EUR"}}
    email = TemplateRenderer(templates).render("order_shipped", context)
    assert email.subject == "Votre commande 1042 est en route" and '<html lang="fr"' in email.html
    sentence = "La commande 1042 (58,90 €) a quitté notre entrepôt le 3 juin 2024 à 10 h 30"
    assert f'"{sentence}"' in said(section()) and sentence in said(email.text)
    assert "Vous recevez cet e-mail" in email.text, "the layout's footer partial, in French"


def test_the_mjml_example_renders(templates: Path) -> None:
    context = {"customer": {"attributes": {}}, "product": {"name": "Blue <mug>", "url": "https://shop.example/mug?a=1&b=2"}}
    email = TemplateRenderer(templates).render("back_in_stock", context)
    assert email.subject == "Blue <mug> is back in stock"
    assert "Blue &lt;mug&gt; is back in stock" in email.html and 'href="https://shop.example/mug?a=1&amp;b=2"' in email.html
    assert "Hi there, you asked us to tell you." in email.text
    assert "max-width:600px" in email.html and "{{" not in email.html


def test_every_example_passes_the_check(templates: Path) -> None:
    results = check_templates(templates)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert {(r.template, r.locale) for r in results} >= {("order_shipped", "fr"), ("back_in_stock", "en (default)")}


def test_the_check_output_shown_is_the_real_one() -> None:
    shown = re.search(r"```sh\n\$ \.venv/bin/journeys templates check\n(.*?)```", section(), flags=re.S)
    assert shown is not None
    assert shown.group(1).rstrip("\n") == report(check_templates(SHIPPED), SHIPPED)
