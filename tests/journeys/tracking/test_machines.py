"""Machines told apart from people: link scanners (by user agent, by timing) and image proxies."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from journeys.tracking.machines import EarlierClick, Rules, classify_click, classify_open

SENT = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
LATER = SENT + timedelta(minutes=5)
CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
IPHONE_SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
OUTLOOK_DESKTOP = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
URL = "https://shop.example/cart"


def click(agent: str = CHROME, address: str | None = "203.0.113.7", **kw: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {"url": URL, "sent_at": SENT, "now": LATER, **kw}
    return classify_click(agent, address, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("agent", "who"),
    [
        ("Mozilla/5.0 (compatible; Barracuda Sentinel (EE))", "Barracuda"),
        ("Mimecast-URL-Protect/1.0", "Mimecast"),
        ("Mozilla/5.0 Proofpoint URL Defense", "Proofpoint"),
        ("Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b", "BingPreview"),
        ("python-requests/2.32.3", "python-requests"),
        ("curl/8.5.0", "curl"),
        ("Go-http-client/1.1", "Go-http-client"),
        ("Wget/1.21.4", "Wget"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36", "headless"),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "Slack"),
        ("", "no user agent"),
        ("   ", "no user agent"),
    ],
)
def test_scanner_user_agents_are_scanners_for_clicks_and_opens(agent: str, who: str) -> None:
    for verdict in (click(agent), classify_open(agent, "203.0.113.7")):
        assert verdict is not None and verdict[0] == "scanner" and who.lower() in verdict[1].lower()


def test_a_browser_clicking_minutes_later_is_a_person() -> None:
    assert click() is None
    assert click(IPHONE_SAFARI) is None


def test_a_click_within_the_window_after_sending_is_a_scanner() -> None:
    verdict = click(now=SENT + timedelta(seconds=3))
    assert verdict == ("scanner", "clicked 3.0 s after sending (under 10 s)")
    assert click(now=SENT + timedelta(seconds=10)) is None, "the window ends"
    assert click(now=SENT + timedelta(seconds=3), rules=Rules(scanner_window=timedelta(seconds=2))) is None


def test_a_click_before_the_recorded_send_time_is_a_scanner() -> None:
    """Clock skew between hosts: a click "before" sending is no person."""
    verdict = click(now=SENT - timedelta(seconds=1))
    assert verdict is not None and verdict[0] == "scanner" and "0.0 s after sending" in verdict[1]


def test_a_click_while_the_email_is_still_being_sent_is_a_scanner() -> None:
    assert click(sent_at=None) == ("scanner", "clicked while the email was still being sent")


def test_several_different_links_within_the_burst_window_are_a_scanner() -> None:
    earlier = [EarlierClick(at=LATER - timedelta(seconds=1), url="https://shop.example/other")]
    verdict = click(earlier=earlier)
    assert verdict == ("scanner", "2 different links clicked within 2 s")


def test_the_same_link_twice_or_links_far_apart_are_a_person() -> None:
    assert click(earlier=[EarlierClick(at=LATER - timedelta(seconds=1), url=URL)]) is None
    assert click(earlier=[EarlierClick(at=LATER - timedelta(seconds=30), url="https://shop.example/other")]) is None


def test_outlooks_own_link_check_is_a_scanner_but_its_image_requests_are_the_reader() -> None:
    verdict = click(OUTLOOK_DESKTOP)
    assert verdict is not None and verdict[0] == "scanner" and "Microsoft Office" in verdict[1]
    assert classify_open(OUTLOOK_DESKTOP, "203.0.113.7") is None


@pytest.mark.parametrize(
    ("agent", "address", "why"),
    [
        (GMAIL_PROXY, "66.249.84.1", "Gmail's image proxy"),
        ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", "98.136.1.1", "Yahoo"),
        ("Mozilla/5.0", "104.28.1.1", "bare user agent"),
        (" Mozilla/5.0 ", None, "bare user agent"),
        (IPHONE_SAFARI, "17.58.1.2", "17.0.0.0/8"),
        (IPHONE_SAFARI, "::ffff:17.58.1.2", "17.0.0.0/8"),
    ],
)
def test_image_proxies_are_proxy_opens(agent: str, address: str | None, why: str) -> None:
    verdict = classify_open(agent, address)
    assert verdict is not None and verdict[0] == "proxy" and why in verdict[1]


@pytest.mark.parametrize("address", ["18.0.0.1", "16.255.255.255", "2001:db8::1", "garbage", None])
def test_a_mail_client_outside_apples_network_is_a_person(address: str | None) -> None:
    assert classify_open(IPHONE_SAFARI, address) is None


def test_image_proxies_and_bare_agents_following_links_are_scanners() -> None:
    for agent in (GMAIL_PROXY, "Mozilla/5.0"):
        verdict = click(agent)
        assert verdict is not None and verdict[0] == "scanner"


def test_a_person_at_apple_clicking_is_a_person() -> None:
    """Mail Privacy Protection fetches images, never links."""
    assert click(IPHONE_SAFARI, "17.58.1.2") is None


def test_user_agent_rules_come_before_timing() -> None:
    verdict = click("curl/8.5.0", now=SENT + timedelta(seconds=1))
    assert verdict == ("scanner", "user agent of curl")
