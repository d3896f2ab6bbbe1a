"""Tracked links and the open pixel over HTTP: public, redirect only to stored URLs, 404 else."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from journeys.storage.analytics_tables import MessageEventRow
from journeys.storage.database import Database
from journeys.storage.tables import EventRow, MessageRow, utcnow
from journeys.contracts.signed_tokens import _b64
from journeys.tracking.tokens import _FORMAT, click_token, open_token, tracking_key
from tests.conftest import wait_until

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
HOSTILE = "https://shop.example/c?id=\"7\"&name=Zoë&x=<b>&cr=\r\nSet-Cookie: a=1"
LINKS = ["https://shop.example/cart", HOSTILE]
BROWSER = {"User-Agent": CHROME}


@pytest.fixture
def api_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(getattr(request, "param", {}))


@pytest_asyncio.fixture
async def public(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no API key: a person's browser, or their mail client."""
    transport = httpx.ASGITransport(app=api_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://journeys.test", headers=BROWSER) as client:
        yield client


@pytest.fixture
def key(api_app: FastAPI) -> bytes:
    return tracking_key(api_app.state.journeys.unsubscribe_secret)


@pytest.fixture
def db(api_app: FastAPI) -> Database:
    database: Database = api_app.state.journeys.db
    return database


@pytest_asyncio.fixture
async def message(db: Database) -> str:
    """A marketing email sent a minute ago, with two tracked links."""
    sent = utcnow() - timedelta(minutes=1)
    async with db.session() as session:
        session.add(
            MessageRow(
                id="msg-1", idempotency_key="k-1", customer_id="ann", template="cart_reminder", category="marketing",
                topic="offers", to_email="ann@example.com", status="sent", history=[], links=LINKS,
                created_at=sent, updated_at=sent, claimed_at=sent, sent_at=sent,
            )
        )
        await session.commit()
    return "msg-1"


async def hits(db: Database) -> list[MessageEventRow]:
    async with db.session() as session:
        return list((await session.exec(select(MessageEventRow))).all())


async def events(db: Database, type: str) -> list[EventRow]:
    async with db.session() as session:
        return list((await session.exec(select(EventRow).where(EventRow.type == type))).all())


async def test_a_click_redirects_to_the_stored_url_without_an_api_key(
    public: httpx.AsyncClient, key: bytes, db: Database, message: str
) -> None:
    answer = await public.get(f"/t/c/{click_token(key, message, 0)}")
    assert answer.status_code == 302 and answer.headers["location"] == "https://shop.example/cart"
    assert answer.headers["cache-control"] == "no-store" and answer.headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in answer.headers
    [event] = await events(db, "email.clicked")
    assert event.customer_id == "ann" and event.properties["url"] == "https://shop.example/cart"
    again = await public.get(f"/t/c/{click_token(key, message, 0)}")
    assert again.status_code == 302
    assert len(await events(db, "email.clicked")) == 1, "the journey event is stored once"
    assert [h.machine for h in await hits(db)] == [None, None], "each hit is recorded"


async def test_a_hostile_url_is_redirected_to_percent_encoded_and_cannot_add_headers(
    public: httpx.AsyncClient, key: bytes, message: str
) -> None:
    answer = await public.get(f"/t/c/{click_token(key, message, 1)}")
    assert answer.status_code == 302
    assert answer.headers["location"] == "https://shop.example/c?id=%227%22&name=Zo%C3%AB&x=%3Cb%3E&cr=%0D%0ASet-Cookie:%20a=1"
    assert "set-cookie" not in answer.headers


async def test_a_scanner_gets_the_redirect_but_no_journey_hears_of_it(
    public: httpx.AsyncClient, key: bytes, db: Database, message: str
) -> None:
    answer = await public.get(f"/t/c/{click_token(key, message, 0)}", headers={"User-Agent": "python-requests/2.32"})
    assert answer.status_code == 302
    [hit] = await hits(db)
    assert hit.machine == "scanner" and hit.detail == "user agent of python-requests"
    assert await events(db, "email.clicked") == []


def _forged(key: bytes, message: str) -> dict[str, str]:
    good = click_token(key, message, 0)
    version, payload, signature = good.split(".")
    other_payload = click_token(key, "msg-2", 0).split(".")[1]
    unsigned_payload = _b64(b'{"m":"msg-1","k":"c","i":0}')
    return {
        "signature altered": f"{version}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}",
        "message id swapped": f"{version}.{other_payload}.{signature}",
        "signed with another secret": click_token(tracking_key("not ours"), message, 0),
        "unknown message, validly signed": click_token(key, "no-such-message", 0),
        "link index out of range": click_token(key, message, 2),
        "huge link index": click_token(key, message, 10**12),
        "an open token": open_token(key, message),
        "validly signed, not our payload": f"t1.{unsigned_payload[:-1]}.{_b64(_FORMAT._sign(key, unsigned_payload[:-1]))}",
        "not a token": "hello",
        "an unsubscribe token's shape": "u1.abc.def",
        "over-long": "t1." + "a" * 2000 + ".b",
    }


async def test_forged_tokens_get_a_not_valid_page_and_record_nothing(
    public: httpx.AsyncClient, key: bytes, db: Database, message: str
) -> None:
    for why, token in _forged(key, message).items():
        answer = await public.get(f"/t/c/{token}")
        assert answer.status_code == 404, why
        assert answer.headers["content-type"].startswith("text/html") and "Link not valid" in answer.text, why
        assert "location" not in answer.headers and "shop.example" not in answer.text, why
        assert answer.headers["cache-control"] == "no-store", why
    assert await hits(db) == [] and await events(db, "email.clicked") == []


async def test_the_pixel_is_a_gif_and_a_persons_open_an_event(
    public: httpx.AsyncClient, key: bytes, db: Database, message: str
) -> None:
    answer = await public.get(f"/t/o/{open_token(key, message)}")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/gif"
    assert len(answer.content) == 43 and answer.content.startswith(b"GIF89a\x01\x00\x01\x00")
    assert answer.headers["cache-control"] == "no-store"
    [event] = await events(db, "email.opened")
    assert event.customer_id == "ann" and event.properties["message_id"] == message


async def test_the_pixel_answers_every_token_alike_and_records_only_ours(
    public: httpx.AsyncClient, key: bytes, db: Database, message: str
) -> None:
    forged = {why: token for why, token in _forged(key, message).items() if why != "an open token"}
    for token in [*forged.values(), click_token(key, message, 0), open_token(key, "no-such-message")]:
        answer = await public.get(f"/t/o/{token}")
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/gif" and len(answer.content) == 43
    assert await hits(db) == []


async def test_an_image_proxy_open_is_recorded_as_a_proxy_and_not_dispatched(
    public: httpx.AsyncClient, key: bytes, db: Database, message: str
) -> None:
    gmail = {"User-Agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"}
    assert (await public.get(f"/t/o/{open_token(key, message)}", headers=gmail)).status_code == 200
    [hit] = await hits(db)
    assert hit.machine == "proxy" and hit.detail == "Gmail's image proxy"
    assert await events(db, "email.opened") == []


async def test_the_pixel_shows_even_when_the_open_cannot_be_recorded(
    public: httpx.AsyncClient, key: bytes, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def database_away(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT", {}, Exception("database is away"))

    monkeypatch.setattr("api.routes.tracking.record_hit", database_away)
    answer = await public.get(f"/t/o/{open_token(key, message)}")
    assert answer.status_code == 200 and len(answer.content) == 43
    click = await public.get(f"/t/c/{click_token(key, message, 0)}")
    assert click.status_code == 503 and "retry-after" in click.headers, "a click is not lost quietly"


APPLE = {"X-Forwarded-For": "17.58.1.2"}


async def test_x_forwarded_for_is_ignored_unless_trusted(public: httpx.AsyncClient, key: bytes, db: Database, message: str) -> None:
    await public.get(f"/t/o/{open_token(key, message)}", headers=APPLE)
    [hit] = await hits(db)
    assert hit.machine is None, "the header is the client's to write"


@pytest.mark.parametrize("api_settings", [{"trust_forwarded_for": True}], indirect=True)
async def test_behind_a_trusted_proxy_the_forwarded_address_is_classified(
    public: httpx.AsyncClient, key: bytes, db: Database, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="journeys.tracking"):
        await public.get(f"/t/o/{open_token(key, message)}", headers=APPLE)
        await public.get(f"/t/c/{click_token(key, message, 0)}", headers={"X-Forwarded-For": "203.0.113.77"})
    assert sorted(str(h.machine) for h in await hits(db)) == ["None", "proxy"]
    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any("203.0.113.0/24" in m for m in shown) and any("17.58.1.0/24" in m for m in shown)
    assert not any("203.0.113.77" in m or "17.58.1.2" in m for m in shown), "full addresses only at DEBUG"


TEN = [f"https://shop.example/p/{i}" for i in range(10)]


@pytest_asyncio.fixture
async def newsletter(db: Database) -> str:
    """A marketing email with ten links, sent five minutes ago."""
    sent = utcnow() - timedelta(minutes=5)
    async with db.session() as session:
        session.add(
            MessageRow(
                id="msg-10", idempotency_key="k-10", customer_id="ann", template="cart_reminder", category="marketing",
                topic="offers", to_email="ann@example.com", status="sent", history=[], links=TEN,
                created_at=sent, updated_at=sent, claimed_at=sent, sent_at=sent,
            )
        )
        await session.commit()
    return "msg-10"


async def test_a_scanner_fetching_every_link_at_once_is_redirected_and_no_journey_hears_of_it(
    public: httpx.AsyncClient, key: bytes, db: Database, newsletter: str
) -> None:
    answers = await asyncio.gather(*[public.get(f"/t/c/{click_token(key, newsletter, i)}") for i in range(len(TEN))])
    assert [a.status_code for a in answers] == [302] * len(TEN)
    assert [a.headers["location"] for a in answers] == TEN
    assert [h.machine for h in await hits(db)] == ["scanner"] * len(TEN), "the first of the burst too"
    assert await events(db, "email.clicked") == []
    async with db.session() as session:
        row = await session.get(MessageRow, newsletter)
    assert row is not None and (row.clicked_at, row.opened_at) == (None, None)


@pytest.mark.parametrize("api_settings", [{"tracking_burst_seconds": 0.3}], indirect=True)
async def test_a_persons_click_reaches_journeys_once_the_burst_window_has_passed(
    api_app: FastAPI, public: httpx.AsyncClient, key: bytes, db: Database, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted: list[tuple[float, list[str]]] = []
    outbox = api_app.state.journeys.outbox
    monkeypatch.setattr(outbox, "submit", lambda events: submitted.append((time.monotonic(), [e.id for e in events])))
    monkeypatch.setattr(outbox.registry, "cares_about", lambda event_type: True)  # a journey waits for the click
    clicked_at = time.monotonic()
    assert (await public.get(f"/t/c/{click_token(key, message, 0)}")).status_code == 302
    [event] = await events(db, "email.clicked")
    assert all(ids == [] for _, ids in submitted), "stored at once, not dispatched at once"

    async def handed_over() -> bool:
        return any(ids == [event.id] for _, ids in submitted)

    await wait_until(handed_over, timeout=5, what="the click handed to the outbox")
    [when] = [at for at, ids in submitted if ids == [event.id]]
    assert when - clicked_at >= 0.3, "not before the burst window has passed"
