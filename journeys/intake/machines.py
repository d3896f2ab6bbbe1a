"""Telling a person's open or click from a machine's, from what a hit carries.

Pure functions of the hit (user agent, address, when) and what the message already saw,
the same for a hit on our own pixel or tracked link (journeys/tracking/hits.py) and for an
open or click an ESP's webhook reports (journeys/intake/engagement.py records both). Two
kinds of machine:

- **scanner**: a mail security gateway or link checker that fetches every link (and often
  the pixel) before the person sees the email: Barracuda, Mimecast, Proofpoint, Microsoft
  Defender's Safe Links (``BingPreview``), chat link previews, HTTP libraries (curl,
  python-requests, Go-http-client, Wget); or, for clicks, anything that clicks within
  ``scanner_window`` of sending, or clicks several different links of one message within
  ``burst_window`` (a person reads, then clicks one link).
- **proxy**: a mailbox provider fetching the pixel on the person's behalf, which says
  nothing about whether they read it: Gmail's image proxy (``GoogleImageProxy``), Yahoo's
  (``YahooMailProxy``), Apple Mail Privacy Protection (Apple's 17.0.0.0/8 network, or the
  bare user agent ``Mozilla/5.0``, which MPP sends and no browser does).

A verdict is (kind, reason); the reason is shown with the hit, so an operator can see why
a hit did not count. None means a person, as far as can be told. A user agent of None
means the source did not report one (an ESP's webhook may not): nothing is concluded from
it, where our own pixel's request without one is a machine's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from journeys.storage.settings import Settings

Machine = Literal["scanner", "proxy"]
Verdict = tuple[Machine, str]

# Lower-case fragments of the user agents of link scanners, and who they are.
SCANNER_AGENTS: tuple[tuple[str, str], ...] = (
    ("barracuda", "Barracuda"),
    ("mimecast", "Mimecast"),
    ("proofpoint", "Proofpoint"),
    ("bingpreview", "Microsoft Defender (BingPreview)"),
    ("safelinks", "Microsoft Defender Safe Links"),
    ("symantec", "Symantec"),
    ("trendmicro", "Trend Micro"),
    ("forcepoint", "Forcepoint"),
    ("sophos", "Sophos"),
    ("fortiguard", "Fortinet"),
    ("cisco", "Cisco"),
    ("zscaler", "Zscaler"),
    ("headlesschrome", "a headless browser"),
    ("phantomjs", "a headless browser"),
    ("googlebot", "Googlebot"),
    ("bingbot", "Bingbot"),
    ("slackbot", "Slack link preview"),
    ("twitterbot", "X link preview"),
    ("facebookexternalhit", "Facebook link preview"),
    ("linkedinbot", "LinkedIn link preview"),
    ("discordbot", "Discord link preview"),
    ("telegrambot", "Telegram link preview"),
    ("whatsapp", "WhatsApp link preview"),
    ("python-requests", "python-requests"),
    ("python-urllib", "Python urllib"),
    ("python-httpx", "httpx"),
    ("aiohttp", "aiohttp"),
    ("curl/", "curl"),
    ("wget", "Wget"),
    ("go-http-client", "Go-http-client"),
    ("okhttp", "OkHttp"),
    ("libwww-perl", "libwww-perl"),
    ("apache-httpclient", "Apache HttpClient"),
    ("java/", "Java"),
    ("node-fetch", "node-fetch"),
    ("axios/", "axios"),
)
# Scanners only when they click: Microsoft Office asks for a link itself before handing it
# to the browser (which then makes the person's click), but Outlook's own image requests,
# with the same user agent, are the person reading the email.
CLICK_ONLY_AGENTS: tuple[tuple[str, str], ...] = (
    ("ms-office", "Microsoft Office's link check"),
    ("microsoft office", "Microsoft Office's link check"),
)
# Image proxies of mailbox providers: they fetch the pixel, not the person.
PROXY_AGENTS: tuple[tuple[str, str], ...] = (
    ("googleimageproxy", "Gmail's image proxy"),
    ("yahoomailproxy", "Yahoo Mail's image proxy"),
)
APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")
BARE_AGENT = "mozilla/5.0"  # what Apple Mail Privacy Protection sends, and nothing else


@dataclass(frozen=True)
class Rules:
    scanner_window: timedelta = timedelta(seconds=10)
    burst_window: timedelta = timedelta(seconds=2)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Rules":
        """JOURNEYS_TRACKING_SCANNER_WINDOW_SECONDS and _BURST_SECONDS: one reading for our
        own hits and the ESPs' reports alike."""
        return cls(
            scanner_window=timedelta(seconds=settings.tracking_scanner_window_seconds),
            burst_window=timedelta(seconds=settings.tracking_burst_seconds),
        )


@dataclass(frozen=True)
class EarlierClick:
    """Another click the message had (any client): when, and on which link."""

    at: datetime
    url: str


def classify_open(user_agent: str | None, address: str | None) -> Verdict | None:
    """A pixel fetch: a proxy, a scanner, or (None) a person's mail client."""
    if user_agent is None:
        return _proxy("", address)
    agent = user_agent.strip().lower()
    return _proxy(agent, address) or _scanner_agent(agent)


def classify_click(
    user_agent: str | None,
    address: str | None,
    *,
    url: str,
    sent_at: datetime | None,
    now: datetime,
    earlier: Iterable[EarlierClick] = (),
    rules: Rules = Rules(),
) -> Verdict | None:
    """A click: a scanner (by user agent, by timing), or (None) a person.

    ``sent_at`` None means the message is being sent right now (the ledger has not
    recorded it yet): no person has it yet either."""
    by_agent = None if user_agent is None else _click_agent(user_agent.strip().lower())
    if by_agent is not None:
        return by_agent
    if sent_at is None:
        return "scanner", "clicked while the email was still being sent"
    after = (now - sent_at).total_seconds()
    if after < rules.scanner_window.total_seconds():
        return "scanner", f"clicked {max(after, 0):.1f} s after sending (under {rules.scanner_window.total_seconds():g} s)"
    return burst(url, now, earlier, rules)


def burst(url: str, now: datetime, others: Iterable[EarlierClick], rules: Rules = Rules()) -> Verdict | None:
    """A scanner's verdict if another link of the message was clicked within the burst
    window of ``now``, before or after (the message's clicks, any client's): a person
    reads, then clicks one link; a scanner fetches them all at once."""
    window = rules.burst_window.total_seconds()
    urls = {e.url for e in others if e.url != url and abs((now - e.at).total_seconds()) <= window}
    if urls:
        return "scanner", burst_reason(len(urls) + 1, rules)
    return None


def burst_reason(links: int, rules: Rules = Rules()) -> str:
    return f"{links} different links clicked within {rules.burst_window.total_seconds():g} s"


def _click_agent(agent: str) -> Verdict | None:
    named = _scanner_agent(agent)
    if named is not None:
        return named
    for fragment, who in CLICK_ONLY_AGENTS:
        if fragment in agent:
            return "scanner", f"user agent of {who}"
    for fragment, who in PROXY_AGENTS:  # an image proxy has no business following links
        if fragment in agent:
            return "scanner", f"user agent of {who}, following a link"
    if agent == BARE_AGENT:
        return "scanner", "bare user agent 'Mozilla/5.0' (no browser sends it)"
    return None


def _scanner_agent(agent: str) -> Verdict | None:
    if not agent:
        return "scanner", "no user agent"
    for fragment, who in SCANNER_AGENTS:
        if fragment in agent:
            return "scanner", f"user agent of {who}"
    return None


def _proxy(agent: str, address: str | None) -> Verdict | None:
    for fragment, who in PROXY_AGENTS:
        if fragment in agent:
            return "proxy", who
    if _in_apple_network(address):
        return "proxy", "Apple Mail Privacy Protection (Apple's 17.0.0.0/8 network)"
    if agent == BARE_AGENT:
        return "proxy", "Apple Mail Privacy Protection (bare user agent 'Mozilla/5.0')"
    return None


def _in_apple_network(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:17.1.2.3, as a dual-stack server may see it
    return ip in APPLE_NETWORK
