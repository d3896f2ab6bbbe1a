"""Locales: a variant per language tag in the file names, chosen along fr-CA -> fr ->
default; numbers, money and dates in the customer's locale and time zone (babel)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from journeys.templating import formatting
from journeys.templating.renderer import TemplateError, TemplateRenderer
from journeys.templating.variants import fallback_chain
from tests.journeys.templating.support import SHIPPED, write


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path, "hello", {
        "subject.txt": "Hello", "body.html": "<p>Hello</p>",
        "subject.fr.txt": "Bonjour", "body.fr.html": "<p>Bonjour</p>",
        "subject.fr-CA.txt": "Allô", "body.fr-CA.html": "<p>Allô</p>",
        "subject.pt-BR.txt": "Olá", "body.pt-BR.html": "<p>Olá</p>",
    })
    return tmp_path


@pytest.mark.parametrize(("locale", "subject"), [
    ("fr-CA", "Allô"), ("fr_CA", "Allô"), ("FR-ca", "Allô"), ("fr", "Bonjour"), ("fr-BE", "Bonjour"), ("fr-Latn-CH", "Bonjour"),
    ("pt-BR", "Olá"), ("pt", "Hello"), ("de", "Hello"), (None, "Hello"), ("", "Hello"), ("not a tag", "Hello"),
])
def test_the_customers_locale_picks_the_variant_along_its_fallback_chain(root: Path, locale: str | None, subject: str) -> None:
    renderer = TemplateRenderer(root)
    assert renderer.render("hello", {"customer": {"locale": locale}}).subject == subject
    assert renderer.render("hello", {"customer": {"locale": "de"}}, locale=locale).subject == subject, "locale= overrides"


def test_the_fallback_chain() -> None:
    assert fallback_chain("fr-CA") == ("fr-CA", "fr")
    assert fallback_chain("zh_hant_tw") == ("zh-Hant-TW", "zh-Hant", "zh")
    assert fallback_chain(None) == () and fallback_chain("../x") == ()


def test_a_variant_is_taken_whole_its_text_derived_from_its_own_html(root: Path) -> None:
    (root / "hello" / "body.txt").write_text("Hello, in English")
    renderer = TemplateRenderer(root)
    assert renderer.render("hello", {}).text == "Hello, in English\n"
    assert renderer.render("hello", {}, locale="fr").text == "Bonjour\n", "never the English text under a French subject"


def test_the_variants_are_listed(root: Path) -> None:
    assert TemplateRenderer(root).locales("hello") == [None, "fr", "fr-CA", "pt-BR"]


def test_a_locale_without_its_own_body_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "t", {"subject.txt": "x", "body.html": "x", "subject.fr.txt": "y"})
    with pytest.raises(TemplateError, match=r"template 't' is missing its part 'body.fr.html or body.fr.mjml'"):
        TemplateRenderer(tmp_path).render("t", {})


def test_a_locale_must_translate_the_preheader_too(tmp_path: Path) -> None:
    write(tmp_path, "t", {"subject.txt": "x", "preheader.txt": "p", "body.html": "x", "subject.fr.txt": "y", "body.fr.html": "y"})
    with pytest.raises(TemplateError, match=r"locale 'fr' has no preheader.fr.txt"):
        TemplateRenderer(tmp_path).render("t", {})


@pytest.mark.parametrize("file_name", ["body.fr_FR!.html", "subject.1x.txt"])
def test_a_misnamed_locale_file_is_refused(tmp_path: Path, file_name: str) -> None:
    write(tmp_path, "t", {"subject.txt": "x", "body.html": "x", file_name: "y"})
    with pytest.raises(TemplateError, match="is not a language tag"):
        TemplateRenderer(tmp_path).render("t", {})


def test_two_bodies_for_one_locale_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "t", {"subject.txt": "x", "body.html": "x", "body.mjml": "<mjml></mjml>"})
    with pytest.raises(TemplateError, match="one body per locale"):
        TemplateRenderer(tmp_path).render("t", {})


FORMATS = (
    '{{ order.total | money("EUR") }}|{{ order.total | money(order.currency) }}|{{ n | number }}|{{ 0.25 | percent }}|'
    '{{ order.placed_at | date("long") }}|{{ order.placed_at | datetime("short") }}|{{ order.placed_at | time }}|'
    '{{ "2024-06-03" | date("medium") }}'
)
ORDER = {"total": "1234.5", "currency": "JPY", "placed_at": "2024-06-03T22:30:00Z"}


@pytest.mark.parametrize(("locale", "zone", "expected"), [
    ("en", "America/New_York", "€1,234.50|¥1,234|1,234,567.891|25%|June 3, 2024|6/3/24, 6:30\u202fPM|6:30\u202fPM|Jun 3, 2024"),
    ("fr-CA", "Europe/Paris", "1\u00a0234,50\u00a0€|1\u00a0234\u00a0¥|1\u00a0234\u00a0567,891|25\u00a0%|4 juin 2024|"
                              "2024-06-04 00 h 30|00 h 30|3 juin 2024"),
    ("de", None, "1.234,50\u00a0€|1.234\u00a0¥|1.234.567,891|25\u00a0%|3. Juni 2024|03.06.24, 22:30|22:30|03.06.2024"),
])
def test_money_numbers_and_dates_in_the_customers_locale_and_zone(tmp_path: Path, locale: str, zone: str | None, expected: str) -> None:
    write(tmp_path, "t", {"subject.txt": "x", "body.txt": FORMATS, "body.html": "x"})
    context = {"customer": {"locale": locale, "timezone": zone}, "order": ORDER, "n": 1234567.891}
    assert TemplateRenderer(tmp_path).render("t", context).text.strip() == expected


def test_formats_follow_the_customer_even_where_the_template_has_no_such_language(tmp_path: Path) -> None:
    write(tmp_path, "t", {"subject.txt": "Total {{ 19.5 | money('EUR') }}", "body.html": "x"})
    renderer = TemplateRenderer(tmp_path)
    assert renderer.render("t", {"customer": {"locale": "de-DE"}}).subject == "Total 19,50 €"
    assert renderer.render("t", {"customer": {}}).subject == "Total €19.50", "no locale: the template's (en)"
    assert renderer.render("t", {"customer": {"locale": "xx"}}).subject == "Total €19.50", "unknown to babel: the template's"


def test_missing_values_render_empty_and_bad_ones_fail_naming_them(tmp_path: Path) -> None:
    write(tmp_path, "t", {"subject.txt": "x", "body.html": "[{{ order.total | money('EUR') }}{{ none | number }}{{ order.when | date }}]"})
    write(tmp_path, "bad", {"subject.txt": "x", "body.html": "{{ order.total | money('EUR') }}"})
    write(tmp_path, "bad_date", {"subject.txt": "x", "body.html": "{{ order.when | date }}"})
    renderer = TemplateRenderer(tmp_path)
    assert renderer.render("t", {"none": None}).html == "[]"
    with pytest.raises(TemplateError, match=r"money: 'lots' is not a number \(bad/body.html line 1\)"):
        renderer.render("bad", {"order": {"total": "lots"}})
    with pytest.raises(TemplateError, match=r"date: 'soon' is not a date"):
        renderer.render("bad_date", {"order": {"when": "soon"}})


def test_babel_locales_are_cached(tmp_path: Path) -> None:
    formatting.babel_locale.cache_clear()
    write(tmp_path, "t", {"subject.txt": "{{ 1 | money('EUR') }}", "body.html": "x"})
    renderer = TemplateRenderer(tmp_path)
    for _ in range(10):
        renderer.render("t", {"customer": {"locale": "fr"}})
    info = formatting.babel_locale.cache_info()
    assert info.misses == 1 and info.hits == 9


def test_the_filter_table_of_templates_readme_is_true(tmp_path: Path) -> None:
    readme = (SHIPPED / "README.md").read_text().split("## Numbers, money and dates", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\{\{.*?\}\})`.*? \| (.+?) \| (.+?) \|$", readme, flags=re.M)
    assert len(rows) == 5
    renderer = TemplateRenderer(tmp_path)
    for n, (expression, english, french) in enumerate(rows):
        write(tmp_path, f"t{n}", {"subject.txt": "x", "body.html": "x", "body.txt": expression.replace("\\|", "|")})
        for locale, shown in (("en", english), ("fr", french)):
            text = renderer.render(f"t{n}", {"customer": {"locale": locale}, "when": "2024-06-03T22:30:00Z"}).text
            assert " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split()) == shown, (expression, locale)


def test_money_without_a_currency_is_missing_too(tmp_path: Path) -> None:
    write(tmp_path, "t", {"subject.txt": "x", "body.html": "[{{ 5 | money(order.currency) }}]"})
    write(tmp_path, "strict", {"subject.txt": "x", "body.html": "[{{ 5 | money(order.currency) }}]"},
          toml='category = "transactional"\nstrict = true\n')
    write(tmp_path, "odd", {"subject.txt": "x", "body.html": "[{{ 5 | money(978) }}]"})
    renderer = TemplateRenderer(tmp_path)
    assert renderer.render("t", {"order": {}}).html == "[]"
    with pytest.raises(TemplateError, match="'order.currency' is missing"):
        renderer.render("strict", {"order": {}})
    with pytest.raises(TemplateError, match="currency must be an ISO 4217 code"):
        renderer.render("odd", {})
