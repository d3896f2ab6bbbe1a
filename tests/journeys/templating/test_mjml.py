"""body.mjml: compiled by mrml once per template, with its Jinja2 placeholders; customer
data only meets the compiled HTML later, escaped, in the sandbox."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from journeys.templating import mjml
from journeys.templating.renderer import TemplateError, TemplateRenderer
from tests.journeys.templating.support import write

MJML = """<mjml>
  <mj-body>
    <mj-include path="_partials/header.mjml" />
    <mj-section>
      <mj-column>
        <mj-text>Hi {{ customer.attributes.first_name or "there" }}, your {{ product.name }} is back.</mj-text>
        {% if product.url %}
        <mj-button href="{{ product.url }}">See {{ product.name }}</mj-button>
        {% endif %}
        <mj-table>{% for size in product.sizes %}<tr><td>{{ size }}</td></tr>{% endfor %}</mj-table>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""
HEADER = '<mj-section><mj-column><mj-text font-size="20px">Shop</mj-text></mj-column></mj-section>'
HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "{{ 7*7 }}", "{% raw %}x", "${7*7}"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path, "_partials", {"header.mjml": HEADER}, toml=None)
    write(tmp_path, "restock", {"subject.txt": "{{ product.name }} is back", "body.mjml": MJML})
    return tmp_path


def context(name: str = "Blue mug", first_name: str = "Ann") -> dict[str, object]:
    return {"customer": {"attributes": {"first_name": first_name}},
            "product": {"name": name, "url": "https://shop.example/p/1?a=1&b=2", "sizes": ["S", "M"]}}


def test_mjml_compiles_to_responsive_html_with_the_data_filled_in(root: Path) -> None:
    email = TemplateRenderer(root).render("restock", context())
    assert email.subject == "Blue mug is back"
    assert "Hi Ann, your Blue mug is back." in email.html and ">Shop</div>" in email.html, "mj-include read the partial"
    assert 'href="https://shop.example/p/1?a=1&amp;b=2"' in email.html and "See Blue mug" in email.html
    assert re.search(r">S</td></tr><tr><td[^>]*>M</td>", email.html), "the loop ran inside the compiled table"
    assert "fonts.googleapis.com" not in email.html, "no web fonts: nothing remote"
    assert "@media only screen and (min-width:480px)" in email.html, "MJML's responsive rules are kept"
    assert "{{" not in email.html and "{%" not in email.html
    assert "Hi Ann, your Blue mug is back." in email.text and "See Blue mug (https://shop.example/p/1?a=1&b=2)" in email.text


def test_the_jinja_placeholders_survive_mrml() -> None:
    compiled = mjml.compile_mjml(MJML.replace('<mj-include path="_partials/header.mjml" />', ""), "restock/body.mjml", Path("."))
    for placeholder in ('{{ customer.attributes.first_name or "there" }}', "{% if product.url %}", 'href="{{ product.url }}"',
                        "{% for size in product.sizes %}<tr><td>{{ size }}</td></tr>{% endfor %}"):
        assert placeholder in compiled


def test_mjml_is_compiled_once_per_template_not_per_send(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = mjml.compile_mjml

    def counting(source: str, filename: str, templates_dir: Path) -> str:
        calls.append(filename)
        return real(source, filename, templates_dir)

    monkeypatch.setattr(mjml, "compile_mjml", counting)
    renderer = TemplateRenderer(root)
    for n in range(20):
        renderer.render("restock", context(name=f"mug {n}"))
    assert len(calls) == 1


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_customer_data_is_escaped_never_run_or_evaluated(root: Path, hostile: str) -> None:
    email = TemplateRenderer(root).render("restock", context(name=hostile, first_name=hostile))
    assert "<script" not in email.html and "<img src=x" not in email.html and "onerror=alert(1)>" not in email.html
    assert "49" not in email.html and "49" not in email.subject, "data is never template code"
    assert email.subject == f"{hostile} is back", "the subject is text, shown as typed"
    assert f"your {hostile} is back." in email.text
    if hostile.startswith("<script"):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html


def test_mjml_that_does_not_compile_names_the_file(root: Path) -> None:
    write(root, "broken", {"subject.txt": "x", "body.mjml": "<mjml><mj-body><mj-section><mj-column><mj-text>x</mj-column>"})
    with pytest.raises(TemplateError, match=r"template 'broken': .*broken/body.mjml: MJML does not compile"):
        TemplateRenderer(root).render("broken", {})


def test_mj_include_stays_inside_the_templates_folder(root: Path, tmp_path: Path) -> None:
    (tmp_path.parent / "secret.mjml").write_text("<mj-section><mj-column><mj-text>secret</mj-text></mj-column></mj-section>")
    write(root, "escape", {"subject.txt": "x", "body.mjml": '<mjml><mj-body><mj-include path="../secret.mjml" /></mj-body></mjml>'})
    with pytest.raises(TemplateError, match="MJML does not compile"):
        TemplateRenderer(root).render("escape", {})


def test_a_locale_may_have_its_own_mjml(root: Path) -> None:
    write(root, "restock", {"subject.fr.txt": "{{ product.name }} est de retour",
                            "body.fr.mjml": "<mjml><mj-body><mj-section><mj-column><mj-text>Bonjour {{ customer.attributes.first_name }}"
                                            "</mj-text></mj-column></mj-section></mj-body></mjml>"})
    email = TemplateRenderer(root).render("restock", context(), locale="fr")
    assert email.subject == "Blue mug est de retour" and "Bonjour Ann" in email.html and 'lang="und"' in email.html


def test_an_edit_to_an_included_partial_is_picked_up_without_a_restart(root: Path) -> None:
    """Jinja2 asks whether the compiled body is current before each use: the body is stale
    once any file it mj-includes changed, as when the body itself did."""
    renderer = TemplateRenderer(root)
    assert ">Shop</div>" in renderer.render("restock", context()).html
    header = root / "_partials" / "header.mjml"
    header.write_text(HEADER.replace(">Shop<", ">Shop, now with news<"))
    stamp = header.stat().st_mtime + 2  # the edit lands in a later second, whatever the file system's clock
    os.utime(header, (stamp, stamp))
    assert ">Shop, now with news</div>" in renderer.render("restock", context()).html
    header.unlink()
    with pytest.raises(TemplateError, match="MJML does not compile"):
        renderer.render("restock", context())


def test_partials_are_found_for_the_up_to_date_check_at_any_depth(tmp_path: Path) -> None:
    write(tmp_path, "_partials", {"outer.mjml": '<mj-include path="_partials/inner.mjml" />', "inner.mjml": HEADER,
                                  "style.css": ".x { color: red }"}, toml=None)
    source = ('<mjml><mj-head><mj-include path=\'_partials/style.css\' type="css" /></mj-head><mj-body>'
              '<mj-include path="_partials/outer.mjml" /><mj-include path="_partials/nope.mjml" /></mj-body></mjml>')
    found = mjml._included(source, tmp_path / "t" / "body.mjml", tmp_path)
    assert found == {tmp_path / "_partials" / name for name in ("outer.mjml", "inner.mjml", "style.css")}
