"""Who may see the dashboard (api/dashboard/auth.py): the login form, the session cookie,
redirects to the login, the CSRF token on every form that changes something, and no
open redirect."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from api.dashboard import auth
from journeys.storage.database import Database
from tests.api.dashboard.conftest import API_KEY, BEARER, csrf_of
from tests.journeys.operations.test_dead_letters import dead_event, dead_message

PAGES = ["/dashboard", "/dashboard/journeys/welcome", "/dashboard/dead-letters", "/dashboard/customers", "/dashboard/customers?id=ann"]


def set_cookie(answer: httpx.Response) -> Any:
    [header] = answer.headers.get_list("set-cookie")
    return SimpleCookie(header)[auth.COOKIE]


async def test_the_wrong_key_gets_the_form_again_with_a_401(anonymous: httpx.AsyncClient) -> None:
    for key in ("", "not-the-key", API_KEY[:-1], API_KEY + "x", "ключ-🔑", API_KEY.upper()):
        answer = await anonymous.post("/dashboard/login", data={"key": key, "next": "/dashboard"})
        assert answer.status_code == 401, key
        assert answer.headers["www-authenticate"] == 'Form realm="Journeys dashboard"'
        assert "set-cookie" not in answer.headers and "That is not the API key." in answer.text
        assert 'name="key"' in answer.text, "the form again"
    assert auth.COOKIE not in anonymous.cookies
    assert (await anonymous.get("/dashboard")).status_code == 303


async def test_the_bearer_key_alone_does_not_open_the_pages(anonymous: httpx.AsyncClient) -> None:
    answer = await anonymous.get("/dashboard", headers=BEARER)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/login"


async def test_the_right_key_sets_a_session_cookie_and_goes_on(anonymous: httpx.AsyncClient) -> None:
    answer = await anonymous.post("/dashboard/login", data={"key": API_KEY, "next": "/dashboard/dead-letters?kind=event"})
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/dead-letters?kind=event"
    assert answer.headers["cache-control"] == "no-store"
    cookie = set_cookie(answer)
    assert cookie["httponly"] is True and cookie["samesite"].lower() == "lax" and cookie["path"] == "/dashboard"
    assert cookie["max-age"] == str(12 * 3600) and not cookie["secure"], "plain http in tests: no Secure"
    assert API_KEY not in cookie.value, "the cookie holds nothing that opens the JSON API"
    assert (await anonymous.get("/v1/dead-letters")).status_code == 401, "nor does the JSON API take it"
    page = await anonymous.get("/dashboard/dead-letters")
    assert page.status_code == 200 and "<h1>Dead letters</h1>" in page.text


@pytest.mark.parametrize("dashboard_settings", [{"public_url": "https://journeys.example"}])
async def test_behind_https_the_cookie_is_secure(anonymous: httpx.AsyncClient) -> None:
    answer = await anonymous.post("/dashboard/login", data={"key": API_KEY})
    assert answer.status_code == 303 and set_cookie(answer)["secure"] is True


async def test_pages_without_a_session_redirect_to_the_login_with_next(anonymous: httpx.AsyncClient) -> None:
    for path in PAGES + ["/dashboard?from=2024-01-01", "/dashboard/journeys/nope"]:
        answer = await anonymous.get(path)
        assert answer.status_code == 303, path
        expected = "/dashboard/login" if path == "/dashboard" else f"/dashboard/login?next={quote(path, safe='')}"
        assert answer.headers["location"] == expected and answer.headers["cache-control"] == "no-store"
    form = await anonymous.get("/dashboard/login", params={"next": "/dashboard/customers?id=ann"})
    assert form.status_code == 200 and 'name="next" value="/dashboard/customers?id=ann"' in form.text
    answer = await anonymous.post("/dashboard/login", data={"key": API_KEY, "next": "/dashboard/customers?id=ann"})
    assert answer.headers["location"] == "/dashboard/customers?id=ann"


OFF_SITE = [
    "https://evil.example", "//evil.example", "/dashboard\\evil", "/\\evil.example", "\\\\evil.example", "http:/evil.example",
    "/dashboard/../v1/dead-letters", "/dashboard/%2e%2e/t/c/x", "/dashboardevil", "/dashboard\r\nSet-Cookie: x=1", " /dashboard",
    "javascript:alert(1)", "/v1/customers", "evil.example/dashboard",
    "/dashboard/login?next=/dashboard/login", "/dashboard/logout",  # a bounce through the login again
]


async def test_next_is_only_ever_a_dashboard_page(anonymous: httpx.AsyncClient) -> None:
    for target in OFF_SITE:
        form = await anonymous.get("/dashboard/login", params={"next": target})
        assert 'name="next" value="/dashboard"' in form.text, target
    for target in OFF_SITE:
        answer = await anonymous.post("/dashboard/login", data={"key": API_KEY, "next": target})
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard", target
    for target in OFF_SITE:  # logged in now: the form sends the browser straight on
        again = await anonymous.get("/dashboard/login", params={"next": target})
        assert again.status_code == 303 and again.headers["location"] == "/dashboard", target


async def test_forged_altered_or_expired_cookies_are_refused(anonymous: httpx.AsyncClient) -> None:
    good = auth.new_cookie(API_KEY)
    version, expires, session_id, mac = good.split(".")
    forged = [
        auth.new_cookie("another-key-0123456789"),  # signed under another key
        f"{version}.{int(expires) + 3600}.{session_id}.{mac}",  # expiry pushed back
        f"{version}.{expires}.{session_id[::-1]}.{mac}",  # another session id
        f"{version}.{expires}.{session_id}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        auth.new_cookie(API_KEY, now=time.time() - auth.LIFETIME_SECONDS - 1),  # expired
        f"v2.{expires}.{session_id}.{mac}", "", "garbage", good + ".", good.replace(".", "", 1),
    ]
    for value in forged:
        anonymous.cookies.set(auth.COOKIE, value, domain="journeys.test", path="/dashboard")
        answer = await anonymous.get("/dashboard/dead-letters")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/dashboard/login"), value
    anonymous.cookies.clear()
    raw = await anonymous.get("/dashboard/dead-letters", headers={b"cookie": f"{auth.COOKIE}=".encode() + "é".encode() * 40})
    assert raw.status_code == 303, "not even UTF-8 in the cookie header breaks the check"
    anonymous.cookies.set(auth.COOKIE, good, domain="journeys.test", path="/dashboard")
    assert (await anonymous.get("/dashboard/dead-letters")).status_code == 200


async def test_a_new_api_key_ends_every_session() -> None:
    cookie = auth.new_cookie(API_KEY)
    assert auth.read_cookie(API_KEY, cookie) is not None
    assert auth.read_cookie(API_KEY + "-rotated", cookie) is None and auth.read_cookie("", cookie) is None


async def still_dead(api: httpx.AsyncClient) -> list[str]:
    return [d["id"] for d in (await api.get("/v1/dead-letters", headers=BEARER)).json()]


async def test_retry_and_discard_need_this_sessions_csrf_token(logged_in: httpx.AsyncClient, app_db: Database) -> None:
    event, message = await dead_event(app_db), await dead_message(app_db, "m1", "failed")
    token = csrf_of(await logged_in.get("/dashboard/dead-letters"))
    other_session = auth.read_cookie(API_KEY, auth.new_cookie(API_KEY))
    assert other_session is not None and other_session.csrf != token
    for letter in (event, message):
        for action in ("retry", "discard"):
            for form in ({}, {"csrf": ""}, {"csrf": "forged"}, {"csrf": token[:-1]}, {"csrf": other_session.csrf}, {"token": token}):
                answer = await logged_in.post(f"/dashboard/dead-letters/{letter}/{action}", data=form)
                assert answer.status_code == 403, (letter, action, form)
                assert "did not come from this dashboard session" in answer.text
    assert sorted(await still_dead(logged_in)) == sorted([event, message]), "nothing changed"

    answer = await logged_in.post(f"/dashboard/dead-letters/{message}/discard", data={"csrf": token})
    assert answer.status_code == 303 and answer.headers["location"] == f"/dashboard/dead-letters?done=discarded&id={message}"
    assert await still_dead(logged_in) == [event]


async def test_a_cross_site_post_without_the_cookie_changes_nothing(
    dashboard_app: FastAPI, logged_in: httpx.AsyncClient, app_db: Database
) -> None:
    """What SameSite=Lax leaves another site: a POST without the session cookie (even one
    carrying a token it somehow learnt) is sent to the login, and nothing happens."""
    event = await dead_event(app_db)
    token = csrf_of(await logged_in.get("/dashboard/dead-letters"))
    transport = httpx.ASGITransport(app=dashboard_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://journeys.test") as evil:
        for action in ("retry", "discard"):
            answer = await evil.post(
                f"/dashboard/dead-letters/{event}/{action}", data={"csrf": token},
                headers={"Origin": "https://evil.example", "Referer": "https://evil.example/page"},
            )
            assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/login"
        logout = await evil.post("/dashboard/logout", data={"csrf": token})
        assert logout.status_code == 303 and "set-cookie" not in logout.headers
    assert await still_dead(logged_in) == [event]


async def test_log_out_needs_the_token_and_ends_the_session(logged_in: httpx.AsyncClient) -> None:
    token = csrf_of(await logged_in.get("/dashboard"))
    refused = await logged_in.post("/dashboard/logout", data={"csrf": "nope"})
    assert refused.status_code == 403 and (await logged_in.get("/dashboard")).status_code == 200
    answer = await logged_in.post("/dashboard/logout", data={"csrf": token})
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/login"
    cleared = set_cookie(answer)
    assert cleared.value in ("", '""') and cleared["max-age"] == "0" and cleared["path"] == "/dashboard"
    assert (await logged_in.get("/dashboard")).status_code == 303


async def test_a_form_too_large_is_refused_unread(logged_in: httpx.AsyncClient, app_db: Database) -> None:
    event = await dead_event(app_db)
    token = csrf_of(await logged_in.get("/dashboard/dead-letters"))
    answer = await logged_in.post(f"/dashboard/dead-letters/{event}/retry", data={"csrf": token, "pad": "x" * 20_000})
    assert answer.status_code == 413
    assert await still_dead(logged_in) == [event]
