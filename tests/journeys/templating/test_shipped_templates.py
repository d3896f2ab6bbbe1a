"""The shipped templates: one layout, responsive, a preheader and a real text part each,
sample contexts that match what the journeys pass, nothing that reads as spam."""

from __future__ import annotations

import ast
import re
import statistics
import time

import pytest

from journeys.storage.settings import PROJECT_ROOT
from journeys.templating.catalog import TemplateCatalog, read_options
from journeys.templating.checks import sample_context
from journeys.templating.renderer import RenderedEmail, TemplateRenderer
from tests.journeys.templating.support import SHIPPED

NAMES = ["welcome", "getting_started", "cart_reminder", "receipt"]
RENDERER = TemplateRenderer(SHIPPED)


def sample(name: str, locale: str | None = None) -> RenderedEmail:
    context = sample_context(name, read_options(SHIPPED / name), locale)
    if TemplateCatalog(SHIPPED).get(name).is_marketing:
        context |= {"unsubscribe_url": "https://journeys.example/u/x", "postal_address": "Shop Inc., 1 Main St"}
    return RENDERER.render(name, context)


@pytest.mark.parametrize("name", NAMES)
def test_every_shipped_template_extends_the_one_layout(name: str) -> None:
    for body in (SHIPPED / name).glob("body*.html"):
        assert body.read_text().startswith('{% extends "_layouts/base.html" %}'), body
    assert not list((SHIPPED / name).glob("body*.txt")), "the text part is derived from the HTML"


@pytest.mark.parametrize("name", NAMES)
def test_every_shipped_template_is_responsive_and_inlined(name: str) -> None:
    html = sample(name).html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert re.search(r'<table class="container"[^>]* style="width: 100%;max-width: 600px;"', html), "600px at most, fluid below"
    # Phones (320 to 430px) get the phone rules; a 600px window (the preview's) the desktop layout.
    assert "@media only screen and (max-width: 480px)" in html and ".content { padding: 28px 20px !important; }" in html
    assert re.search(r'<td class="card content"[^>]* style="[^"]*padding: 40px 44px;', html), "styles inlined onto the cells"
    assert 'role="presentation"' in html and "<div" not in html.split('aria-hidden="true">', 1)[1], "tables, not divs, for Outlook"


@pytest.mark.parametrize("name", NAMES)
def test_every_shipped_template_has_a_preheader_and_a_real_text_part(name: str) -> None:
    email = sample(name)
    assert 30 <= len(email.preheader) <= 110, "inbox lists show about 90 characters"
    assert f'aria-hidden="true">{email.preheader}</div>' in email.html.replace("&#39;", "'")
    words = re.findall(r"[A-Za-z]{2,}", email.text)
    assert len(words) >= 30 and email.text.count("\n\n") >= 4, email.text
    assert "<" not in email.text and "{{" not in email.text


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("locale", [None, "fr"])
def test_nothing_in_them_reads_as_spam(name: str, locale: str | None) -> None:
    email = sample(name, locale)
    readable = " ".join([email.subject, email.preheader, email.text])
    assert not re.findall(r"\b[A-Z]{4,}\b", readable), "no shouting"
    assert "!!" not in readable and not re.search(r"\bfree\b|\bgratuit\b|act now|urgent|\$\$\$|100%", readable, re.I)
    assert email.html.count("<img") == 0, "all text: no image-only email for a filter to doubt"


def test_welcome_in_french() -> None:
    email = sample("welcome", "fr")
    assert email.subject == "Bienvenue sur Journeys, Ann !" and email.preheader.startswith("Votre compte est prêt")
    assert '<html lang="fr"' in email.html and "Vous avez choisi l’offre <strong>pro</strong>." in email.html
    assert "Vous recevez cet e-mail parce que vous avez un compte Journeys." in email.text, "the layout's footer in French too"
    assert RENDERER.locales("welcome") == [None, "fr"]


def test_cart_reminder_lists_the_items_with_prices_in_the_customers_currency_format() -> None:
    email = sample("cart_reminder")
    assert re.search(r"^Blue mug +2 +\$9\.50$", email.text, re.M) and re.search(r"^Total +\$19\.00$", email.text, re.M)
    assert re.search(r"^Green tea +1 +–$", email.text, re.M), "an item without a price says so, not an empty cell"
    assert re.search(r'<td class="number"[^>]*>–</td>', email.html)
    german = RENDERER.render("cart_reminder", {**sample_context("cart_reminder", read_options(SHIPPED / "cart_reminder"), "de"),
                                               "unsubscribe_url": "u", "postal_address": "a"})
    assert re.search(r"^Blue mug +2 +9,50 \$$", german.text, re.M), "German figures, the cart's currency"


def test_receipt_is_strict_and_formats_in_the_customers_zone() -> None:
    assert read_options(SHIPPED / "receipt").strict
    email = sample("receipt")
    assert email.subject == "Your receipt for order 1042" and email.preheader.startswith("€58.90 paid on 3 June 2024")
    assert "placed on 3 June 2024 at 15:05" in email.text, "14:05 UTC is 15:05 in London in June"


def _contexts_sent() -> dict[str, set[str]]:
    """Per template, the context keys the shipped journeys pass to send()."""
    sent: dict[str, set[str]] = {}
    for module in (PROJECT_ROOT / "workflows" / "journeys").glob("*.py"):
        for call in ast.walk(ast.parse(module.read_text())):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "send" and call.args:
                template = ast.literal_eval(call.args[0])
                keys = sent.setdefault(template, set())
                for keyword in call.keywords:
                    if keyword.arg == "context" and isinstance(keyword.value, ast.Dict):
                        keys |= {ast.literal_eval(k) for k in keyword.value.keys if k is not None}
    return sent


def test_sample_contexts_hold_what_the_journeys_pass() -> None:
    sent = _contexts_sent()
    assert {"welcome", "getting_started", "cart_reminder"} <= set(sent)
    for template, keys in sent.items():
        assert keys <= set(read_options(SHIPPED / template).sample.get("context", {})), template


def test_rendering_welcome_takes_about_a_millisecond() -> None:
    context = sample_context("welcome", read_options(SHIPPED / "welcome"), None)
    renderer = TemplateRenderer(SHIPPED)
    renderer.render("welcome", context)  # the first render loads and compiles
    timings = []
    for _ in range(200):
        started = time.perf_counter()
        renderer.render("welcome", context)
        timings.append(time.perf_counter() - started)
    median_ms = statistics.median(timings) * 1000
    print(f"welcome renders in {median_ms:.2f} ms (median of 200)")
    assert median_ms < 5, "a shared CI machine is slower than a laptop, but not this much"
