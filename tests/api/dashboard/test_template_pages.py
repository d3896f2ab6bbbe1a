"""The dashboard's template pages over HTTP: the list, and a template's preview in two
sandboxed frames (600 and 375 px) with its text part and headers, for the sample or a
customer, in a locale; the email escaped into ``srcdoc``; a CSP that allows the frame and
still no script. (In a real browser: tests/api/dashboard/test_template_previews_browser.py.)"""

from __future__ import annotations

import html
import re

import httpx

from tests.api.dashboard.conftest import BEARER

PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; frame-src 'self'"
)
FRAME = re.compile(r'<iframe title="The email at (\d+) px" data-width="\d+" width="\d+" height="\d+" sandbox="" '
                   r'referrerpolicy="no-referrer" srcdoc="([^"]*)"></iframe>')


async def test_the_list_names_every_template_with_its_samples_subject(logged_in: httpx.AsyncClient) -> None:
    answer = await logged_in.get("/dashboard/templates")
    assert answer.status_code == 200
    assert '<a href="/dashboard/templates" aria-current="page">Templates</a>' in answer.text
    rows = re.findall(r'<tr data-template="([^"]+)">', answer.text)
    assert rows == ["cart_reminder", "getting_started", "receipt", "welcome"]
    assert "Welcome to Journeys, Ann!" in answer.text and "en, fr" in answer.text
    assert "<script" not in answer.text


async def test_a_preview_shows_the_email_in_two_sandboxed_frames_with_text_and_headers(logged_in: httpx.AsyncClient) -> None:
    answer = await logged_in.get("/dashboard/templates/cart_reminder")
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["content-security-policy"] == PREVIEW_CSP
    assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"
    frames = FRAME.findall(answer.text)
    assert [width for width, _ in frames] == ["600", "375"]
    email = html.unescape(frames[0][1])
    api = await logged_in.post("/v1/templates/cart_reminder/preview", json={}, headers=BEARER)
    assert email == api.json()["html"], "the API's preview, escaped into srcdoc and nothing else"
    assert frames[0][1] == frames[1][1]
    assert "<script" not in answer.text.lower()
    for header in ("From", "To", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"):
        assert f'<tr data-header="{header}">' in answer.text, header
    assert 'aria-label="Text part">Journeys' in answer.text and "Blue mug   2    $9.50" in answer.text
    assert "a real send tracks opens: yes, clicks: yes" in answer.text


async def test_a_customer_and_a_locale_are_chosen_in_the_form(logged_in: httpx.AsyncClient) -> None:
    put = await logged_in.put("/v1/customers/chloe", json={"email": "chloe@example.com", "attributes": {"first_name": "Chloé"}}, headers=BEARER)
    assert put.status_code == 201
    answer = await logged_in.get("/dashboard/templates/welcome", params={"customer_id": "chloe", "locale": "fr"})
    assert answer.status_code == 200
    assert "Bienvenue sur Journeys, Chloé !" in answer.text and '<strong data-figure="locale">fr</strong>' in answer.text
    assert '<option value="fr" selected>fr</option>' in answer.text
    assert 'href="/dashboard/customers?id=chloe"' in answer.text


async def test_what_cannot_be_shown_says_why(logged_in: httpx.AsyncClient) -> None:
    for params, status, said in (
        ({"customer_id": "nobody"}, 404, "No customer with this id"),
        ({"customer_id": "a/b"}, 422, "Not a customer id"),
        ({"locale": "fr fr"}, 422, "Not a locale"),
    ):
        answer = await logged_in.get("/dashboard/templates/welcome", params=params)
        assert answer.status_code == status and said in answer.text, (params, answer.text[:300])
        assert "<iframe" not in answer.text
    missing = await logged_in.get("/dashboard/templates/welcom")
    assert missing.status_code == 404 and "The templates are: cart_reminder, getting_started, receipt, welcome." in missing.text


async def test_hostile_customer_data_stays_text_inside_the_frame(logged_in: httpx.AsyncClient) -> None:
    hostile = '<script>alert(1)</script>"><iframe src=x onload=alert(2)>'
    put = await logged_in.put("/v1/customers/mallory", json={"email": "m@example.com", "attributes": {"first_name": hostile}}, headers=BEARER)
    assert put.status_code == 201
    answer = await logged_in.get("/dashboard/templates/welcome", params={"customer_id": "mallory"})
    assert answer.status_code == 200
    assert "<script" not in answer.text.lower() and "onload=alert(2)>" not in answer.text
    [(_, first), _] = FRAME.findall(answer.text)
    email = html.unescape(first)  # what the frame's document is
    assert "<script" not in email and "&lt;script&gt;alert(1)&lt;/script&gt;" in email


async def test_the_pages_need_a_login(anonymous: httpx.AsyncClient) -> None:
    for path in ("/dashboard/templates", "/dashboard/templates/welcome?locale=fr"):
        answer = await anonymous.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/dashboard/login?next="), path
