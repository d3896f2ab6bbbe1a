"""Layouts, partials, preheaders: one template folder, subject to HTML and text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from journeys.templating.renderer import RenderedEmail, TemplateError, TemplateRenderer
from tests.journeys.templating.support import write

LAYOUT = (
    "<!doctype html><html lang=\"{{ lang }}\"><head><title>{% block title %}{% endblock %}</title></head>"
    "<body><main>{% block content %}{% endblock %}</main>{% include localized(\"_partials/footer.html\") %}</body></html>"
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    write(root, "_layouts", {"base.html": LAYOUT}, toml=None)
    write(root, "_partials", {"footer.html": "<footer>Sent by Shop</footer>", "footer.fr.html": "<footer>Envoyé par Shop</footer>",
                              "greeting.html": "<p>Hi {{ customer.attributes.first_name or 'there' }},</p>"}, toml=None)
    write(root, "hello", {
        "subject.txt": "Hello {{ customer.attributes.first_name }}",
        "preheader.txt": "A short  note\n for {{ customer.attributes.first_name }} <3",
        "body.html": '{% extends "_layouts/base.html" %}{% block title %}Hello{% endblock %}'
                     '{% block content %}{% include "_partials/greeting.html" %}<p>Good to see you.</p>{% endblock %}',
    })
    return root


def render(root: Path, name: str = "hello", **customer: object) -> RenderedEmail:
    return TemplateRenderer(root).render(name, {"customer": {"attributes": {"first_name": "Ann"}, **customer}})


def test_a_template_extends_the_layout_and_includes_partials(root: Path) -> None:
    email = render(root)
    assert email.subject == "Hello Ann"
    assert "<title>Hello</title>" in email.html and "<main><p>Hi Ann,</p><p>Good to see you.</p></main>" in email.html
    assert "<footer>Sent by Shop</footer>" in email.html and '<html lang="en">' in email.html


def test_the_preheader_is_the_hidden_first_thing_in_the_body(root: Path) -> None:
    email = render(root)
    assert email.preheader == "A short note for Ann <3", "one line, as inbox lists show it"
    body = email.html.split("<body>", 1)[1]
    assert re.match(r'<div style="display:none;[^"]*"[^>]*>A short note for Ann &lt;3</div><main>', body), body


def test_without_a_preheader_nothing_is_added(root: Path) -> None:
    (root / "hello" / "preheader.txt").unlink()
    email = render(root)
    assert email.preheader == "" and "display:none" not in email.html


def test_the_preheader_escapes_data(root: Path) -> None:
    email = TemplateRenderer(root).render("hello", {"customer": {"attributes": {"first_name": '"><script>x</script>'}}})
    assert "<script>" not in email.html and "&lt;script&gt;" in email.html


def test_without_body_txt_the_text_is_derived_from_the_html(root: Path) -> None:
    assert render(root).text == "Hi Ann,\n\nGood to see you.\n\nSent by Shop\n"


def test_body_txt_when_there_is_one_is_the_text_part(root: Path) -> None:
    (root / "hello" / "body.txt").write_text("Hi {{ customer.attributes.first_name }}, plain <as> written.\n\n")
    assert render(root).text == "Hi Ann, plain <as> written.\n"


def test_a_partial_in_the_emails_language_is_chosen_by_localized(root: Path) -> None:
    write(root, "hello", {"subject.fr.txt": "Bonjour", "preheader.fr.txt": "Un mot",
                          "body.fr.html": '{% extends "_layouts/base.html" %}{% block content %}<p>Salut</p>{% endblock %}'})
    french = render(root, locale="fr-CA")
    assert "<footer>Envoyé par Shop</footer>" in french.html and '<html lang="fr">' in french.html
    assert "<footer>Sent by Shop</footer>" in render(root, locale="de").html


def test_layouts_and_partials_are_not_templates(root: Path) -> None:
    renderer = TemplateRenderer(root)
    for name in ("_layouts", "_partials", "../hello", ".hidden", ""):
        with pytest.raises(TemplateError, match="unknown template"):
            renderer.render(name, {})


def test_a_missing_partial_names_itself(root: Path) -> None:
    write(root, "broken", {"subject.txt": "x", "body.html": '{% include "_partials/nope.html" %}'})
    with pytest.raises(TemplateError, match=r"template 'broken' is missing its part '_partials/nope.html'"):
        TemplateRenderer(root).render("broken", {})


def test_a_folder_needs_a_body(root: Path) -> None:
    write(root, "bodiless", {"subject.txt": "x"})
    with pytest.raises(TemplateError, match=r"template 'bodiless' is missing its part 'body.html or body.mjml'"):
        TemplateRenderer(root).render("bodiless", {})


def test_rendered_email_stays_constructible_as_before() -> None:
    email = RenderedEmail("s", "<p>h</p>", "t")
    assert (email.subject, email.html, email.text, email.preheader) == ("s", "<p>h</p>", "t", "")


def test_data_keys_come_before_dict_methods(tmp_path: Path) -> None:
    """{{ cart.items }} is the cart's items (Jinja2 alone would give dict.items)."""
    write(tmp_path, "cart", {"subject.txt": "x", "body.html": "{% for i in cart.items %}[{{ i }}]{% endfor %}"
                             "{{ cart.get('total', 'none') }}|{{ empty['items'] or 'no items' }}"})
    email = TemplateRenderer(tmp_path).render("cart", {"cart": {"items": ["a", "b"]}, "empty": {}})
    assert email.html == "[a][b]none|no items"


def test_json_null_renders_empty(tmp_path: Path) -> None:
    write(tmp_path, "t", {"subject.txt": "x", "body.html": "[{{ customer.locale }}]"})
    assert TemplateRenderer(tmp_path).render("t", {"customer": {"locale": None}}).html == "[]"
