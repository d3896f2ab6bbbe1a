"""Telling a person's open or click from a machine's, from what a hit carries.

Pure functions of the hit (user agent, address, when) and what the message already saw;
journeys/tracking/hits.py calls them and records the verdict. Two kinds of machine:

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
a hit did not count. None means a person, as far as can be told.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

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


@dataclass(frozen=True)
class EarlierClick:
    """A click the message already had (any client): when, and on which link."""

    at: datetime
    url: str


def classify_open(user_agent: str, address: str | None) -> Verdict | None:
    """A pixel fetch: a proxy, a scanner, or (None) a person's mail client."""
    agent = user_agent.strip().lower()
    return _proxy(agent, address) or _scanner_agent(agent)


def classify_click(
    user_agent: str,
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
    agent = user_agent.strip().lower()
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
    if sent_at is None:
        return "scanner", "clicked while the email was still being sent"
    after = (now - sent_at).total_seconds()
    if after < rules.scanner_window.total_seconds():
        return "scanner", f"clicked {max(after, 0):.1f} s after sending (under {rules.scanner_window.total_seconds():g} s)"
    others = {e.url for e in earlier if e.url != url and abs((now - e.at).total_seconds()) <= rules.burst_window.total_seconds()}
    if others:
        return "scanner", f"{len(others) + 1} different links clicked within {rules.burst_window.total_seconds():g} s"
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
