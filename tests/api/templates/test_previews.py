"""POST /v1/templates/{name}/preview: a template as a send renders it, for its sample or a
customer, in a locale; nothing sent, nothing tracked; errors that say what is wrong."""

from __future__ import annotations

import re

import httpx

from journeys.customers.identity import merge_into
from journeys.storage.database import Database
from tests.api.templates.conftest import put_customer

HIDDEN_PREHEADER = re.compile(r'<body[^>]*>\s*<div style="display:none[^"]*" aria-hidden="true">([^<]*)</div>')


async def preview(http: httpx.AsyncClient, name: str, body: dict[str, object] | None = None) -> dict[str, object]:
    answer = await http.post(f"/v1/templates/{name}/preview", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def test_the_sample_renders_with_subject_preheader_text_and_headers(http: httpx.AsyncClient) -> None:
    shown = await preview(http, "welcome")  # no body at all: the sample
    assert (shown["subject"], shown["customer_id"], shown["sample"]) == ("Welcome to Journeys, Ann!", "sample-welcome", True)
    assert shown["preheader"] == "Your account is ready. Here is the one thing to do first."
    hidden = HIDDEN_PREHEADER.search(str(shown["html"]))
    assert hidden and hidden[1] == shown["preheader"], "the preheader is the HTML's hidden first element"
    assert "You are on the <strong>pro</strong> plan." in str(shown["html"])  # [sample.context] signup.plan
    assert "Hi Ann," in str(shown["text"]) and "<" not in str(shown["text"])
    assert shown["headers"] == {"From": "Journeys <journeys@example.com>", "To": "ann@example.com", "Subject": "Welcome to Journeys, Ann!"}
    assert (shown["category"], shown["topic"], shown["locale"], shown["locales"]) == ("transactional", None, "en", ["en", "fr"])
    assert shown["tracking"] == {"opens": False, "clicks": False}
    assert await preview(http, "welcome", {}) == shown


async def test_marketing_carries_its_headers_and_footer_and_no_tracking(http: httpx.AsyncClient) -> None:
    shown = await preview(http, "cart_reminder")
    headers = shown["headers"]
    assert isinstance(headers, dict)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Id"] == "Journeys offers <offers.example.com>"
    unsubscribe = re.fullmatch(r"<(http://127\.0\.0\.1:8000/u/u1\.[A-Za-z0-9_.-]+)>", headers["List-Unsubscribe"])
    assert unsubscribe, headers["List-Unsubscribe"]
    for part in ("html", "text"):  # the footer: the visible link and the postal address, in both parts
        assert unsubscribe[1] in str(shown[part]) and "1 Example Street" in str(shown[part])
    html = str(shown["html"])
    assert "/t/c/" not in html and "/t/o/" not in html, "a preview is no message: links as written, no pixel"
    assert 'href="https://app.journeys.example/cart?id=k1"' in html
    assert shown["tracking"] == {"opens": True, "clicks": True}, "what a real send would track"


async def test_the_given_context_replaces_the_samples_keys(http: httpx.AsyncClient) -> None:
    cart = {"cart_id": "k9", "total": "30.00", "items": [{"name": "Red kettle", "quantity": 1, "price": "30.00"}]}
    shown = await preview(http, "cart_reminder", {"context": {"cart": cart}})
    assert "Red kettle" in str(shown["html"]) and "Blue mug" not in str(shown["html"])
    assert "cart?id=k9" in str(shown["text"])


async def test_a_customer_is_rendered_with_their_profile_and_merged_ids_resolved(http: httpx.AsyncClient, app_db: Database) -> None:
    await put_customer(http, "bo", email="bo@example.com", attributes={"first_name": "Bo"})
    shown = await preview(http, "welcome", {"customer_id": "bo"})
    assert (shown["subject"], shown["customer_id"], shown["sample"]) == ("Welcome to Journeys, Bo!", "bo", False)
    assert shown["headers"]["To"] == "bo@example.com"  # type: ignore[index]
    await merge_into(app_db, "anon-bo-7", "bo")
    merged = await preview(http, "welcome", {"customer_id": "anon-bo-7"})
    assert (merged["customer_id"], merged["subject"]) == ("bo", "Welcome to Journeys, Bo!")


async def test_a_locale_picks_its_variant(http: httpx.AsyncClient) -> None:
    french = await preview(http, "welcome", {"locale": "fr"})
    assert (french["subject"], french["locale"]) == ("Bienvenue sur Journeys, Ann !", "fr")
    assert '<html lang="fr"' in str(french["html"])
    await put_customer(http, "chloe", email="chloe@example.com", locale="fr-CA", attributes={"first_name": "Chloé"})
    own = await preview(http, "welcome", {"customer_id": "chloe"})
    assert (own["subject"], own["locale"]) == ("Bienvenue sur Journeys, Chloé !", "fr"), "fr-CA falls back to fr"
    asked = await preview(http, "welcome", {"customer_id": "chloe", "locale": "en"})
    assert (asked["subject"], asked["locale"]) == ("Welcome to Journeys, Chloé!", "en")


async def test_unknown_templates_and_customers_are_404s_that_say_so(http: httpx.AsyncClient) -> None:
    answer = await http.post("/v1/templates/welcom/preview", json={})
    assert answer.status_code == 404
    assert answer.json()["detail"] == "no template 'welcom'; the templates are: cart_reminder, getting_started, receipt, welcome"
    for hidden in ("_footer", "_layouts", ".."):
        assert (await http.post(f"/v1/templates/{hidden}/preview", json={})).status_code == 404, hidden
    missing = await http.post("/v1/templates/welcome/preview", json={"customer_id": "nobody"})
    assert missing.status_code == 404 and missing.json()["detail"] == "no customer with id 'nobody'"


async def test_a_strict_templates_missing_variable_is_a_422_naming_template_and_variable(http: httpx.AsyncClient) -> None:
    assert (await http.post("/v1/templates/receipt/preview", json={})).status_code == 200, "its sample has everything"
    answer = await http.post("/v1/templates/receipt/preview", json={"context": {"order": {"id": "7", "currency": "EUR"}}})
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["path", "name"]
    assert re.match(r"template 'receipt' is strict and 'order\.[a-z_]+' is missing \(receipt/", error["msg"]), error["msg"]


async def test_invalid_bodies_are_422s_naming_the_field(http: httpx.AsyncClient) -> None:
    for body, field in (({"locale": "fr fr"}, "locale"), ({"customer_id": "a/b"}, "customer_id"), ({"context": []}, "context"),
                        ({"colour": "red"}, "colour")):
        answer = await http.post("/v1/templates/welcome/preview", json=body)
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", field], (body, answer.text)


async def test_previews_need_the_api_key(http: httpx.AsyncClient) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer not-the-key"}):
        answer = await http.post("/v1/templates/welcome/preview", json={}, headers=headers)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"


async def test_hostile_customer_data_is_only_ever_text(http: httpx.AsyncClient) -> None:
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>{{ 7*7 }}'
    await put_customer(http, "mallory", email="mallory@example.com", attributes={"first_name": hostile})
    shown = await preview(http, "welcome", {"customer_id": "mallory", "context": {"signup": {"plan": hostile}}})
    html = str(shown["html"])
    assert "<script" not in html and "<img" not in html and "onerror=alert(2)>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in str(shown["text"]) and "49" not in html, "data is never template code"
    assert "\n" not in str(shown["subject"])


async def test_a_render_that_fails_in_any_way_is_a_422_naming_the_filter(http: httpx.AsyncClient) -> None:
    order = {"id": "1", "placed_at": "2024-06-03T10:00:00Z", "currency": "EUR", "total": "NaN", "subtotal": "Infinity",
             "items": [{"name": "Mug", "quantity": 1, "price": "-Infinity"}]}
    answer = await http.post("/v1/templates/receipt/preview", json={"context": {"order": order}})
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert re.match(r"template 'receipt' failed to render: money: '[-A-Za-z]+' is not a finite number \(receipt/", error["msg"]), error
    priced = {**order, "total": "1", "subtotal": "1"}  # only the item's price is not a number now
    item = await http.post("/v1/templates/receipt/preview", json={"context": {"order": priced}})
    assert item.status_code == 422 and "money: '-Infinity' is not a finite number" in item.text
