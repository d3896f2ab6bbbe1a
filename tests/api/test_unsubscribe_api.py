"""One-click unsubscribe and the preferences page, over real HTTP, with every kind of token."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from journeys.consent.unsubscribe_tokens import make_token

ONE_CLICK = {"content": b"List-Unsubscribe=One-Click", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


@pytest.fixture
def secret(api_app: FastAPI) -> str:
    return str(api_app.state.journeys.unsubscribe_secret)


@pytest.fixture
async def ann(api: httpx.AsyncClient) -> str:
    created = await api.put("/v1/customers/ann", json={"email": "ann@example.com"})
    assert created.status_code == 201
    return "ann"


async def subscriptions(api: httpx.AsyncClient, customer: str = "ann") -> dict[str, object]:
    answer = await api.get(f"/v1/customers/{customer}/subscriptions")
    assert answer.status_code == 200
    return dict(answer.json())


def altered(token: str) -> str:
    version, payload, signature = token.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    return ".".join([version, flipped, signature])


async def test_one_click_post_unsubscribes_without_auth_redirect_or_cookie(
    api: httpx.AsyncClient, live_api: str, secret: str, ann: str
) -> None:
    token = make_token(secret, ann, "offers")
    async with httpx.AsyncClient() as mailbox_provider:  # no API key, no cookies
        answer = await mailbox_provider.post(f"{live_api}/u/{token}", **ONE_CLICK)  # type: ignore[arg-type]
    assert answer.status_code == 200
    assert "location" not in answer.headers and "set-cookie" not in answer.headers
    assert "unsubscribed from offers" in answer.text
    subs = await subscriptions(api)
    assert subs["topics"] == {"offers": False, "product": True} and subs["all_marketing"] is True


async def test_the_page_shows_the_choice_and_a_get_changes_nothing(
    api: httpx.AsyncClient, live_api: str, secret: str, ann: str
) -> None:
    token = make_token(secret, ann, "product")
    async with httpx.AsyncClient() as browser:
        page = await browser.get(f"{live_api}/u/{token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text.lower()
    assert f'<form method="post" action="/u/{token}">' in page.text  # the confirm button
    assert f'action="/u/{token}/preferences"' in page.text
    assert 'value="offers" checked' in page.text and 'value="product" checked' in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert (await subscriptions(api))["topics"] == {"offers": True, "product": True}


async def test_the_preferences_form_sets_every_topic_shown(api: httpx.AsyncClient, live_api: str, secret: str, ann: str) -> None:
    token = make_token(secret, ann, "product")
    async with httpx.AsyncClient() as browser:
        saved = await browser.post(
            f"{live_api}/u/{token}/preferences",
            data={"shown": ["offers", "product"], "topic": ["product"]},
        )
        assert saved.status_code == 200 and "preferences are saved" in saved.text
        assert (await subscriptions(api))["topics"] == {"offers": False, "product": True}
        nothing = await browser.post(
            f"{live_api}/u/{token}/preferences", data={"shown": ["offers", "product"], "topic": ["product"], "no_marketing": "1"}
        )
    assert nothing.status_code == 200 and 'name="no_marketing" value="1" checked' in nothing.text
    assert (await subscriptions(api))["all_marketing"] is False


@pytest.mark.parametrize("kind", ["altered payload", "altered signature", "foreign secret", "old format", "garbage"])
async def test_a_token_we_did_not_sign_is_refused_and_changes_nothing(
    api: httpx.AsyncClient, live_api: str, secret: str, ann: str, kind: str
) -> None:
    good = make_token(secret, ann, "offers")
    token = {
        "altered payload": altered(good),  # Ann's own token, one payload character flipped
        "altered signature": good[:-3] + ("x" if good[-3] != "x" else "y") + good[-2:],
        "foreign secret": make_token("another installation's secret", ann, "offers"),
        "old format": "u0." + good.split(".", 1)[1],
        "garbage": "not-a-token",
    }[kind]
    async with httpx.AsyncClient() as anyone:
        for method, path in (("POST", f"/u/{token}"), ("GET", f"/u/{token}"), ("POST", f"/u/{token}/preferences")):
            answer = await anyone.request(method, f"{live_api}{path}", content=b"List-Unsubscribe=One-Click&no_marketing=1")
            assert answer.status_code == 404, (method, path, answer.status_code)
            assert "not valid" in answer.text
    subs = await subscriptions(api)
    assert subs["topics"] == {"offers": True, "product": True} and subs["all_marketing"] is True


async def test_a_token_for_an_erased_customer_answers_and_stores_nothing(
    api: httpx.AsyncClient, live_api: str, secret: str, api_app: FastAPI
) -> None:
    from sqlmodel import select

    from journeys.storage.tables import SubscriptionRow

    async with httpx.AsyncClient() as mailbox_provider:
        answer = await mailbox_provider.post(f"{live_api}/u/{make_token(secret, 'gone', 'offers')}", **ONE_CLICK)  # type: ignore[arg-type]
    assert answer.status_code == 200
    async with api_app.state.journeys.db.session() as session:
        assert (await session.exec(select(SubscriptionRow))).all() == []


async def test_a_link_sent_to_a_visitor_works_for_the_customer_they_became(
    api: httpx.AsyncClient, live_api: str, secret: str, api_app: FastAPI
) -> None:
    """Marketing mailed to an anonymous id carries a token naming that id; after the visitor
    signs up and the id is merged away, the link unsubscribes the customer they became."""
    from journeys.customers.identity import merge_into
    from journeys.customers.profiles import merge_traits

    db = api_app.state.journeys.db
    async with db.session() as session:
        await merge_traits(session, db, "visitor-1", email="ann@example.com")
        await session.commit()
    token = make_token(secret, "visitor-1", "offers")
    assert await merge_into(db, "visitor-1", "ann") is not None
    async with httpx.AsyncClient() as mailbox_provider:
        page = await mailbox_provider.get(f"{live_api}/u/{token}")
        assert page.status_code == 200 and "no email address on file" not in page.text
        answer = await mailbox_provider.post(f"{live_api}/u/{token}", **ONE_CLICK)  # type: ignore[arg-type]
    assert answer.status_code == 200 and "unsubscribed from offers" in answer.text
    assert (await subscriptions(api, "ann"))["topics"]["offers"] is False, "the customer they became is unsubscribed"


async def test_an_unsubscribe_counts_against_the_email_it_came_in(
    api: httpx.AsyncClient, api_app: FastAPI, secret: str, ann: str
) -> None:
    from sqlmodel import select

    from journeys.analytics.report import figures
    from journeys.storage.analytics_tables import MessageEventRow
    from journeys.storage.tables import EventRow, MessageRow, utcnow

    db = api_app.state.journeys.db
    now = utcnow()
    async with db.session() as session:
        session.add(MessageRow(
            id="m-offer", idempotency_key="journey:promo:ann/e1/send:cart_reminder", customer_id=ann, journey="promo",
            step="send:cart_reminder", template="cart_reminder", status="sent", created_at=now, updated_at=now,
        ))
        await session.commit()
    token = make_token(secret, ann, "offers", "m-offer")
    for _ in range(2):  # a second click on the link counts nothing more
        assert (await api.post(f"/u/{token}", **ONE_CLICK)).status_code == 200  # type: ignore[arg-type]
    async with db.session() as session:
        recorded = (await session.exec(select(MessageEventRow))).all()
        stored = (await session.exec(select(EventRow).where(EventRow.type == "email.unsubscribed"))).all()
        row = await session.get(MessageRow, "m-offer")
    assert [(r.message_id, r.type, r.source) for r in recorded] == [("m-offer", "email.unsubscribed", "unsubscribe")]
    assert [e.properties["message_id"] for e in stored] == ["m-offer"], "journeys can wait for it"
    assert row is not None and row.unsubscribed_at is not None
    [step] = (await figures(db, "promo", None, None, min_sample=1)).steps
    assert step.unsubscribed == 1
    old_link = make_token(secret, ann, "product")  # from mail sent before links named their email
    assert (await api.post(f"/u/{old_link}", **ONE_CLICK)).status_code == 200  # type: ignore[arg-type]
