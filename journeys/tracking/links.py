"""What tracking does to an email's HTML: links become signed redirects, a pixel is added.

Each ``<a href>`` (and ``<area href>``) to an ``http(s)`` URL is rewritten to
``{public_url}/t/c/{token}``, the token naming the message and the link's position; the
URLs are returned in order, for the ledger to store with the message (the redirect goes
only to a URL stored there). Left as they are:

- unsubscribe links (``{public_url}/u/...``): the one-click link must reach us itself,
  and a scanner "clicking" it through a redirect would read as a person;
- ``mailto:``, ``tel:``, ``javascript:``, anchors and relative links: nothing to redirect;
- links that could not travel as an event (control characters, over ``MAX_URL``) and any
  past the first ``MAX_LINKS``: left untracked rather than failing the send.

The open pixel, ``<img src="{public_url}/t/o/{token}">``, goes before the last
``</body>``, or at the end when the HTML has none. The text part keeps its links as
written: a text reader sees the URL itself, and a redirect there would hide where it goes.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from journeys.storage.settings import Settings
from journeys.templating.catalog import TemplateInfo
from journeys.templating.renderer import RenderedEmail
from journeys.tracking.tokens import click_token, open_token, tracking_key

MAX_LINKS = 500  # the messages row holds them all; no real email has more
MAX_URL = 8192  # browsers and servers refuse longer ones anyway

# A start tag of <a> or <area>, its quoted values read whole (a ">" inside one is text).
_LINK_TAG = re.compile(r"""<(?:a|area)(?=[\s/>])(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
# One attribute of such a tag: name, then an optional value, double, single or unquoted
# (which, as browsers read it, runs to the next space or ">": "=" and quotes included).
_ATTRIBUTE = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
# Characters an event property cannot hold (journeys/contracts/json_values.py) or that no
# URL a browser follows has: C0 controls, DEL, lone surrogates.
_UNSENDABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class TrackingDefaults:
    """Per category, from settings; a template's template.toml overrides either."""

    opens_marketing: bool = True
    clicks_marketing: bool = True
    opens_transactional: bool = False
    clicks_transactional: bool = False

    def for_template(self, info: TemplateInfo) -> tuple[bool, bool]:
        """(track opens, track clicks) for this template."""
        if info.is_marketing:
            opens, clicks = self.opens_marketing, self.clicks_marketing
        else:
            opens, clicks = self.opens_transactional, self.clicks_transactional
        return (
            opens if info.track_opens is None else info.track_opens,
            clicks if info.track_clicks is None else info.track_clicks,
        )


class Tracker:
    """Rewrites one rendered email for one message id."""

    def __init__(self, public_url: str, key: bytes, defaults: TrackingDefaults) -> None:
        self.public_url = public_url.rstrip("/")
        self.key = key
        self.defaults = defaults

    @classmethod
    def from_settings(cls, settings: Settings) -> "Tracker":
        defaults = TrackingDefaults(
            opens_marketing=settings.track_opens_marketing,
            clicks_marketing=settings.track_clicks_marketing,
            opens_transactional=settings.track_opens_transactional,
            clicks_transactional=settings.track_clicks_transactional,
        )
        return cls(settings.resolved_public_url, tracking_key(settings.resolved_unsubscribe_secret()), defaults)

    def apply(self, email: RenderedEmail, message_id: str, info: TemplateInfo) -> tuple[RenderedEmail, list[str]]:
        """The email as sent, and the URLs its tracked links redirect to, in order."""
        opens, clicks = self.defaults.for_template(info)
        document = email.html
        links: list[str] = []
        if clicks:
            document, links = self.rewrite_links(document, message_id)
        if opens:
            document = add_pixel(document, f"{self.public_url}/t/o/{open_token(self.key, message_id)}")
        return RenderedEmail(subject=email.subject, html=document, text=email.text), links

    def rewrite_links(self, document: str, message_id: str) -> tuple[str, list[str]]:
        links: list[str] = []

        def tag(match: re.Match[str]) -> str:
            text = match.group(0)
            href = _href(text)
            if href is None or len(links) >= MAX_LINKS:
                return text
            start, end, value = href
            url = html.unescape(value).strip()  # as a browser reads the attribute
            if not self.trackable(url):
                return text
            tracked = f"{self.public_url}/t/c/{click_token(self.key, message_id, len(links))}"
            links.append(url)
            return f'{text[:start]}"{html.escape(tracked)}"{text[end:]}'

        return _LINK_TAG.sub(tag, document), links

    def trackable(self, url: str) -> bool:
        if len(url) > MAX_URL or _UNSENDABLE.search(url):
            return False
        try:
            parts = urlsplit(url)
        except ValueError:  # e.g. an unclosed IPv6 bracket: not a link a browser follows
            return False
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            return False
        # Our own links stay ours: unsubscribe (see the module docstring), and tracked ones.
        own = (f"{self.public_url}/u/", f"{self.public_url}/t/")
        return not url.startswith(own)


def _href(tag: str) -> tuple[int, int, str] | None:
    """The first href's value in a start tag, with the span of its value as written
    (quotes included); None without one. The first wins, as in a browser."""
    name_end = re.match(r"<[A-Za-z]+", tag)
    assert name_end is not None
    for attribute in _ATTRIBUTE.finditer(tag, name_end.end(), len(tag) - 1):
        if attribute.group(1).lower() != "href":
            continue
        for group in (2, 3, 4):
            if attribute.group(group) is not None:
                start, end = attribute.span(group)
                if group != 4:  # include the quotes
                    start, end = start - 1, end + 1
                return start, end, attribute.group(group)
        return None  # a bare href: no link
    return None


def add_pixel(document: str, src: str) -> str:
    """The open pixel before the last ``</body>``, or appended when there is none."""
    pixel = (
        f'<img src="{html.escape(src)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">'
    )
    ends = list(_BODY_END.finditer(document))
    if not ends:
        return document + pixel
    at = ends[-1].start()
    return document[:at] + pixel + document[at:]


# What a Location header keeps as written: RFC 3986's reserved and unreserved characters,
# and "%" (an escape already made). Everything else is percent-encoded as UTF-8, as a
# browser does with a link's URL before requesting it.
_URI_SAFE = "!#$%&'()*+,/:;=?@[]~"


def as_location(url: str) -> str:
    """The URL as an HTTP header can carry it (ASCII; RFC 3987's IRI to URI): non-ASCII
    host names in IDNA, every other character a URL may not hold percent-encoded. A
    quote or line break in a stored URL can never end the header."""
    netloc = urlsplit(url).netloc
    if not netloc.isascii():
        userinfo, at, hostport = netloc.rpartition("@")
        host, colon, port = hostport.partition(":")  # an IPv6 literal is ASCII: never here
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:  # a label IDNA cannot take (an emoji, over 63 characters)
            ascii_host = quote(host, safe="")
        url = url.replace(netloc, quote(userinfo, safe=":%") + at + ascii_host + colon + quote(port, safe=""), 1)
    return quote(url, safe=_URI_SAFE)
