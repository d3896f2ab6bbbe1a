r"""What tracking does to an email's HTML: links become signed redirects, a pixel is added.

Each ``<a href>`` (and ``<area href>``) to an ``http(s)`` URL is rewritten to
``{public_url}/t/c/{token}``, the token naming the message and the link's position; the
URLs are returned in order, for the ledger to store with the message (the redirect goes
only to a URL stored there). Left as they are:

- unsubscribe links (``{public_url}/u/...``): the one-click link must reach us itself,
  and a scanner "clicking" it through a redirect would read as a person;
- ``mailto:``, ``tel:``, ``javascript:``, anchors and relative links: nothing to redirect;
- links that could not travel as an event (control characters, over ``MAX_URL``) and any
  past the first ``MAX_LINKS``: left untracked rather than failing the send.

**Links are what a browser sees as links.** The HTML is read the way a browser's tokenizer
reads it (WHATWG HTML, "Tokenization"), not searched with a pattern: only the href of a
real ``<a>``/``<area>`` start tag is rewritten, never text inside comments, ``<script>``,
``<style>``, ``<title>``, ``<textarea>`` or another tag's attribute value, and an odd
attribute (``title=it's``) does not hide the next link. Outlook's conditional comments
(``<!--[if mso]> ... <![endif]-->``) are markup to Outlook, so the links in them are
tracked. Every other byte of the document is kept as it was; the href's value is read as
a browser decodes an attribute (``&region=`` stays ``&region=``, ``&amp;`` is ``&``).

**The stored URL is the one a browser would follow** (WHATWG URL): a ``\`` before the
query is a ``/`` (``https://shop.example\@evil.example/`` is a path on shop.example, as
the browser reads it, not a login at evil.example), and the redirect names a non-ASCII
host in IDNA as browsers do (UTS 46, non-transitional: ``faß.de`` is ``xn--fa-hia.de``,
never IDNA 2003's ``fass.de``), or percent-encoded where IDNA 2008 refuses a name a
browser takes (an emoji): the browser then applies UTS 46 to it itself.

The open pixel, ``<img src="{public_url}/t/o/{token}">``, goes before the last
``</body>`` end tag, or at the end when the HTML has none. The text part keeps its links
as written: a text reader sees the URL itself, and a redirect there would hide where it
goes.
"""

from __future__ import annotations

import dataclasses

import html
import re
from dataclasses import dataclass
from html.entities import html5 as _ENTITIES
from urllib.parse import quote, urlsplit

import idna

from journeys.storage.settings import Settings
from journeys.templating.catalog import TemplateInfo
from journeys.templating.renderer import RenderedEmail
from journeys.tracking.tokens import click_token, open_token, tracking_key

MAX_LINKS = 500  # the messages row holds them all; no real email has more
MAX_URL = 8192  # browsers and servers refuse longer ones anyway

# The HTML tokenizer's view of a tag's attributes (WHATWG HTML, 13.2.5; whitespace is tab,
# LF, FF, CR, space, and a "/" not before ">" is skipped like it): a name runs to
# whitespace, "/", ">" or "=" (a first "=" is part of it), a value is double- or
# single-quoted to its closing quote, or unquoted to whitespace or ">" (quotes in it are
# text). Possessive and atomic, so matching takes linear time; a quote never closed leaves
# the tag unfinished (a browser reads to the end of the document as that tag).
_WS = r"[\t\n\f\r ]"
_VALUE = r"""(?:"[^"]*+"|'[^']*+'|(?!["'])[^\t\n\f\r >]*+)"""
_ATTRS = (
    r"(?:[\t\n\f\r /]*+[^\t\n\f\r />][^\t\n\f\r />=]*+"
    r"(?:=" + _VALUE + r"|" + _WS + r"++(?:=" + _WS + r"*+" + _VALUE + r"|(?!=))|(?!" + _WS + r"*+=)))*+[\t\n\f\r /]*+"
)
_ATTRIBUTE = re.compile(r"(?>([^\t\n\f\r />][^\t\n\f\r />=]*+))(?:" + _WS + r"*+=" + _WS + r"*+(" + _VALUE + r"))?")
_NAME_END = r"(?=[\t\n\f\r />])"


def _named(*names: str) -> str:
    """A pattern for these tag names, in any case (faster than re.IGNORECASE here)."""
    return "(?:" + "|".join("".join(f"[{c.lower()}{c.upper()}]" for c in name) for name in names) + ")" + _NAME_END


# Elements whose content is text to the tokenizer, up to their own end tag (RAWTEXT and
# RCDATA; <noscript> is markup where scripts are off, as in every mail client).
_TEXT_ELEMENTS = ("script", "style", "xmp", "iframe", "noembed", "noframes", "title", "textarea")
_TAG = r"[A-Za-z][^\t\n\f\r />]*+" + _ATTRS + r">"
# The same, for the tags most HTML is made of, in less time: an end tag without
# attributes, a start tag whose attributes are all name="value" (a subset of the grammar
# above, read the same way).
_PLAIN_END = r"/[A-Za-z][^\t\n\f\r />]*+>"
_PLAIN_TAG = r"[A-Za-z][^\t\n\f\r />]*+(?: ++[A-Za-z][-A-Za-z0-9:]*+=\"[^\"]*+\")*+ *+/?>"
_TEXT_NAMES = "|".join(_named(name)[: -len(_NAME_END)] for name in _TEXT_ELEMENTS if name != "script")
# One scan step: text, every tag of no interest (its quoted values read whole), comments
# and Outlook's conditional-comment openers (what follows them is markup to Outlook), all
# in one go; then the next thing that matters, as a browser's tokenizer reads it: a text
# element with its content (<script>, <style>, <title>, ...), an <a>/<area> start tag, a
# </body> end tag, or what runs to the end of the document (an unclosed comment or text
# element, <plaintext>, a tag never finished: nothing after it is markup).
_SCAN = re.compile(
    r"[^<]*+(?:<(?:"
    r"(?!/" + _named("body") + r")" + _PLAIN_END + r"|/(?!" + _named("body") + r")" + _TAG
    + r"|(?!" + _named("a", "area", "plaintext", *_TEXT_ELEMENTS) + r")(?:" + _PLAIN_TAG + r"|" + _TAG + r")"
    r"|!--\[[iI][fF][^\]]*+\]>"  # <!--[if mso]>
    r"|!--(?:-?>|.*?--!?>)"  # a comment (<!--> and <!---> are empty ones)
    r"|[!?](?!--)[^>]*+>|/(?![A-Za-z>])[^>]*+>"  # a bogus comment: <!DOCTYPE>, <![endif]-->, <?x>, </1>
    r"|(?![A-Za-z/!?])|/>"  # a "<" that starts no tag; "</>", which browsers drop
    r")[^<]*+)*+"  # (no capturing group in here: Python 3.11's re mishandles one in a possessive loop)
    r"(?:<(?:"
    r"(?P<script>" + _named("script") + _ATTRS + r">)"  # its end is found by _script_end
    r"|(?P<text>" + _TEXT_NAMES + r")" + _NAME_END + _ATTRS + r">.*?(?=</(?i:(?P=text))" + _NAME_END + r")"
    r"|" + _named("a", "area") + r"(?P<attrs>" + _ATTRS + r")>"
    r"|(?P<body>/" + _named("body") + r")" + _ATTRS + r">"
    r"|!--.*|[!?].*|/(?![A-Za-z>]).*"  # a comment or bogus comment never closed
    r"|(?:" + _TEXT_NAMES + r"|" + _named("plaintext")[: -len(_NAME_END)] + r")" + _NAME_END + _ATTRS + r">.*"
    r"|(?P<unfinished>/?[A-Za-z])"  # a tag never finished
    r")|\Z)",
    re.DOTALL,
)
# In a script's content: what moves the tokenizer between its states (WHATWG HTML, "script
# data", "escaped", "double escaped"), so that "<!--<script>" hides a "</script>".
_SCRIPT_MARKS = re.compile(r"<!--|-->|<(/?)" + _named("script"))
# Characters an event property cannot hold (journeys/contracts/json_values.py) or that no
# URL a browser follows has: C0 controls, DEL, lone surrogates.
_UNSENDABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
# What a browser strips from both ends of a URL: C0 controls and space.
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_CHARACTER_REFERENCE = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")


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
        if not (opens or clicks):
            return email, []
        document = email.html
        hrefs, body_end = _scan(document)
        edits: list[tuple[int, int, str]] = []
        links: list[str] = []
        if clicks:
            edits, links = self._link_edits(hrefs, message_id)
        if opens:
            at = len(document) if body_end is None else body_end
            edits.append((at, at, _pixel(f"{self.public_url}/t/o/{open_token(self.key, message_id)}")))
        return dataclasses.replace(email, html=_edited(document, edits)), links  # the preheader and the rest stay

    def rewrite_links(self, document: str, message_id: str) -> tuple[str, list[str]]:
        edits, links = self._link_edits(_scan(document)[0], message_id)
        return _edited(document, edits), links

    def _link_edits(self, hrefs: list[tuple[int, int, str]], message_id: str) -> tuple[list[tuple[int, int, str]], list[str]]:
        """(start, end, new value) for each href tracked, and the URLs, in document order."""
        edits: list[tuple[int, int, str]] = []
        links: list[str] = []
        for start, end, value in hrefs:
            if len(links) >= MAX_LINKS:
                break
            url = browser_url(attribute_value(value).strip(_C0_AND_SPACE))  # as a browser reads the attribute
            if not self.trackable(url):
                continue
            tracked = f"{self.public_url}/t/c/{click_token(self.key, message_id, len(links))}"
            links.append(url)
            edits.append((start, end, f'"{html.escape(tracked)}"'))
        return edits, links

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


def _scan(document: str) -> tuple[list[tuple[int, int, str]], int | None]:
    """The href of each ``<a>``/``<area>`` start tag, as (start, end, value as written,
    quotes included), in document order; and where the last ``</body>`` end tag starts."""
    hrefs: list[tuple[int, int, str]] = []
    body_end: int | None = None
    at, size = 0, len(document)
    while at < size:
        step = _SCAN.match(document, at)
        if step is None or step.end() == at or step.group("unfinished") is not None:
            break  # the end, or an unfinished tag: a browser reads the rest as part of it
        at = step.end()
        if step.group("script") is not None:
            at = _script_end(document, at)
            continue
        attrs = step.group("attrs")
        if attrs is not None:
            offset = step.start("attrs")
            for attribute in _ATTRIBUTE.finditer(attrs):
                if attribute.group(1).lower() != "href":
                    continue
                if attribute.group(2) is not None:  # the first href wins, as in a browser; a bare one is no link
                    hrefs.append((offset + attribute.start(2), offset + attribute.end(2), attribute.group(2)))
                break
        elif step.group("body") is not None:
            body_end = step.start("body") - 1
    return hrefs, body_end


def _script_end(document: str, at: int) -> int:
    """Where the content of a script starting at ``at`` ends (its end tag's "<"), or the
    document's end: a "</script>" ends it unless it is "double escaped" (after "<!--" and
    a "<script>" in the script's text), as a browser's tokenizer reads it."""
    state = "data"
    while True:
        mark = _SCRIPT_MARKS.search(document, at)
        if mark is None:
            return len(document)
        at = mark.end()
        text = mark.group()
        if text == "<!--":
            if state == "data":
                state = "escaped"
                while document.startswith("-", at):
                    at += 1
                if document.startswith(">", at):  # "<!-->", "<!--->": escaped and back at once
                    state = "data"
        elif text == "-->":
            state = "data"
        elif mark.group(1):  # </script
            if state != "double":
                return mark.start()
            state = "escaped"
        elif state == "escaped":  # <script inside "<!--"
            state = "double"


def _edited(document: str, edits: list[tuple[int, int, str]]) -> str:
    """The document with each (start, end) span replaced, every other character kept."""
    if not edits:
        return document
    pieces: list[str] = []
    at = 0
    for start, end, text in sorted(edits, key=lambda e: e[0]):
        pieces += [document[at:start], text]
        at = end
    pieces.append(document[at:])
    return "".join(pieces)


def attribute_value(written: str) -> str:
    """An attribute's value as a browser reads it: without its quotes, character references
    decoded, except (the rule for attributes) a named one without ";" before "=" or a letter
    or digit, so ``?a=1&region=eu`` keeps its ``&region``."""
    if written[:1] in ('"', "'"):
        written = written[1:-1]
    if "&" not in written:
        return written

    def decode(match: re.Match[str]) -> str:
        name = match.group(1)
        if name[0] == "#" or name in _ENTITIES:
            return html.unescape(match.group(0))
        for length in range(len(name) - 1, 1, -1):  # the longest legacy name it starts with
            if name[:length] in _ENTITIES:
                follows = name[length] if length < len(name) else written[match.end() : match.end() + 1]
                if follows == "=" or (follows.isascii() and follows.isalnum()):
                    return match.group(0)
                return _ENTITIES[name[:length]] + name[length:]
        return match.group(0)

    return _CHARACTER_REFERENCE.sub(decode, written)


def browser_url(url: str) -> str:
    """An http(s) URL as a browser follows it (WHATWG URL, special schemes): a backslash
    before the query or fragment is a slash."""
    if "\\" not in url:
        return url
    end = len(url)
    for mark in ("?", "#"):
        found = url.find(mark)
        if 0 <= found < end:
            end = found
    return url[:end].replace("\\", "/") + url[end:]


def _pixel(src: str) -> str:
    return (
        f'<img src="{html.escape(src)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">'
    )


def add_pixel(document: str, src: str) -> str:
    """The open pixel before the last ``</body>`` end tag, or appended when there is none."""
    body_end = _scan(document)[1]
    at = len(document) if body_end is None else body_end
    return document[:at] + _pixel(src) + document[at:]


# What a Location header keeps as written: RFC 3986's reserved and unreserved characters,
# and "%" (an escape already made). Everything else is percent-encoded as UTF-8, as a
# browser does with a link's URL before requesting it.
_URI_SAFE = "!#$%&'()*+,/:;=?@[]~"


def as_location(url: str) -> str:
    """The URL as an HTTP header can carry it (ASCII; RFC 3987's IRI to URI), leading where
    a browser following the link as written goes: a backslash before the query read as a
    slash, a non-ASCII host name in IDNA (UTS 46, as browsers), every other character a URL
    may not hold percent-encoded. A quote or line break in a stored URL can never end the
    header."""
    url = browser_url(url)
    netloc = urlsplit(url).netloc
    if not netloc.isascii():
        start = url.index("//") + 2  # the scheme holds no "/": the authority follows its "//"
        userinfo, at, hostport = netloc.rpartition("@")
        if hostport.startswith("["):  # an IPv6 literal (ASCII), then perhaps a port
            host, bracket, port = hostport.partition("]")
            host, colon = host + bracket, ""
        else:
            host, colon, port = hostport.partition(":")
        ascii_host = host if host.isascii() else _ascii_host(host)
        rebuilt = quote(userinfo, safe=":%") + at + ascii_host + colon + quote(port, safe=":%")
        url = url[:start] + rebuilt + url[start + len(netloc) :]
    return quote(url, safe=_URI_SAFE)


def _ascii_host(host: str) -> str:
    """The host as browsers send it: IDNA 2008 with UTS 46's non-transitional mapping (``ß``
    and ``ς`` kept, where IDNA 2003 made them ``ss`` and ``σ``). A name IDNA 2008 refuses
    but a browser may take (an emoji, a label over 63 characters) is percent-encoded: a
    browser decodes the host and applies UTS 46 itself, so it goes where the link goes."""
    try:
        return idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return quote(host, safe="%")
