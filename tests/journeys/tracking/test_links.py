"""Rewriting an email's HTML: which links become tracked redirects, the pixel, the defaults."""

from __future__ import annotations

import re

import pytest

from journeys.templating.catalog import TemplateInfo
from journeys.templating.renderer import RenderedEmail
from journeys.tracking.links import MAX_LINKS, Tracker, TrackingDefaults, add_pixel, as_location
from journeys.tracking.tokens import TrackingClaims, read_token, tracking_key

PUBLIC = "https://journeys.example"
KEY = tracking_key("test-secret")
MARKETING = TemplateInfo("promo", "marketing", "offers")
TRANSACTIONAL = TemplateInfo("receipt", "transactional", None)
TRACKED = re.compile(r"https://journeys\.example/t/c/(t1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


def tracker(**defaults: bool) -> Tracker:
    return Tracker(PUBLIC + "/", KEY, TrackingDefaults(**defaults))


def rewrite(html: str) -> tuple[str, list[str]]:
    return tracker().rewrite_links(html, "msg-1")


def test_http_links_become_signed_redirects_naming_their_position() -> None:
    html, links = rewrite('<a href="https://shop.example/a">A</a> <a href="http://shop.example/b">B</a>')
    assert links == ["https://shop.example/a", "http://shop.example/b"]
    tokens = TRACKED.findall(html)
    assert [read_token(KEY, t) for t in tokens] == [TrackingClaims("msg-1", "click", 0), TrackingClaims("msg-1", "click", 1)]
    assert "shop.example" not in html and ">A</a>" in html and ">B</a>" in html


def test_the_same_url_twice_is_two_positions() -> None:
    _, links = rewrite('<a href="https://x.example/">1</a><a href="https://x.example/">2</a>')
    assert links == ["https://x.example/", "https://x.example/"]


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        " JavaScript:alert(document.cookie)",
        "mailto:help@shop.example?subject=Hi%20there",
        "tel:+49301234567",
        "#top",
        "/relative/path",
        "//protocol-relative.example/x",
        "https://journeys.example/u/u1.abc.def",  # the unsubscribe link: ours, one click
        "https://journeys.example/t/c/t1.abc.def",  # already tracked
        "ftp://files.example/x",
        "data:text/html,<b>x</b>",
        "https:///no-host",
        "http://[::1",  # not parseable
        "https://x.example/\x00nul",
        "https://x.example/" + "a" * 9000,
    ],
)
def test_links_that_are_not_http_or_are_ours_are_left_alone(href: str) -> None:
    escaped = href.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    html = f'<p><a href="{escaped}">x</a></p>'
    assert rewrite(html) == (html, [])


def test_escaped_quotes_ampersands_and_unicode_are_stored_as_the_browser_reads_them() -> None:
    """What Jinja's autoescape makes of a URL with quotes, & and non-ASCII characters."""
    html, links = rewrite('<a href="https://shop.example/c?id=7&amp;name=&#34;Zoë&#34;&amp;x=&#39;🛒&#39;">c</a>')
    assert links == ["https://shop.example/c?id=7&name=\"Zoë\"&x='🛒'"]
    assert TRACKED.search(html)


def test_single_quoted_unquoted_uppercase_and_area_links_are_found() -> None:
    html, links = rewrite(
        "<A HREF='https://a.example/'>a</A><a class=x href=https://b.example/p?q=1>b</a>"
        '<map><area shape="rect" href="https://c.example/" alt=c></map>'
    )
    assert links == ["https://a.example/", "https://b.example/p?q=1", "https://c.example/"]
    assert len(TRACKED.findall(html)) == 3 and "class=x" in html and 'shape="rect"' in html


def test_a_greater_than_inside_another_attribute_does_not_end_the_tag() -> None:
    html, links = rewrite('<a title="a > b" data-x=\'href="https://fake.example/"\' href="https://real.example/">r</a>')
    assert links == ["https://real.example/"]
    assert 'title="a > b"' in html and "fake.example" in html  # the other attributes untouched


def test_whitespace_around_a_url_is_what_a_browser_ignores() -> None:
    _, links = rewrite('<a href="  https://x.example/a \n">x</a>')
    assert links == ["https://x.example/a"]


def test_tags_that_are_not_links_and_anchors_without_href_are_left_alone() -> None:
    html = '<abbr href="https://x.example/">x</abbr><a name="top">t</a><a href>bare</a><link href="https://x.example/s.css">'
    assert rewrite(html) == (html, [])


def test_past_max_links_the_rest_stay_as_written() -> None:
    html, links = rewrite("".join(f'<a href="https://x.example/{i}">{i}</a>' for i in range(MAX_LINKS + 3)))
    assert len(links) == MAX_LINKS and f'href="https://x.example/{MAX_LINKS}"' in html


def test_the_pixel_goes_before_the_last_body_end_or_at_the_end() -> None:
    assert add_pixel("<html><body>hi</BODY ></html>", "https://p/x").startswith('<html><body>hi<img src="https://p/x"')
    assert add_pixel("<p>no body end", "https://p/x").startswith('<p>no body end<img src="https://p/x"')
    framed = add_pixel("<body>a</body><body>b</body>", "https://p/x")
    assert framed.startswith('<body>a</body><body>b<img src="https://p/x"') and framed.endswith("></body>")


def test_marketing_tracks_opens_and_clicks_transactional_neither_by_default() -> None:
    email = RenderedEmail("s", '<body><a href="https://x.example/">x</a></body>', "text https://x.example/")
    marketing, links = tracker().apply(email, "m1", MARKETING)
    assert links == ["https://x.example/"] and "/t/o/t1." in marketing.html and TRACKED.search(marketing.html)
    assert marketing.text == email.text, "the text part keeps its links"
    receipt, none = tracker().apply(email, "m1", TRANSACTIONAL)
    assert (receipt, none) == (email, [])


def test_settings_turn_a_category_on_or_off() -> None:
    email = RenderedEmail("s", '<body><a href="https://x.example/">x</a></body>', "t")
    quiet = tracker(opens_marketing=False, clicks_marketing=False)
    assert quiet.apply(email, "m1", MARKETING) == (email, [])
    loud, links = tracker(opens_transactional=True, clicks_transactional=True).apply(email, "m1", TRANSACTIONAL)
    assert links and "/t/o/" in loud.html


def test_a_template_overrides_its_category() -> None:
    email = RenderedEmail("s", '<body><a href="https://x.example/">x</a></body>', "t")
    no_clicks = TemplateInfo("promo", "marketing", "offers", track_clicks=False)
    html, links = tracker().apply(email, "m1", no_clicks)
    assert links == [] and 'href="https://x.example/"' in html.html and "/t/o/" in html.html
    opens_only = TemplateInfo("receipt", "transactional", None, track_opens=True)
    html, links = tracker().apply(email, "m1", opens_only)
    assert links == [] and "/t/o/" in html.html


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("https://shop.example/cart?a=1&b=2#top", "https://shop.example/cart?a=1&b=2#top"),
        ("https://shop.example/c?name=\"Zoë\"&x='🛒'", "https://shop.example/c?name=%22Zo%C3%AB%22&x='%F0%9F%9B%92'"),
        ("https://bücher.example/ü", "https://xn--bcher-kva.example/%C3%BC"),
        ("https://user:pw@bücher.example:8443/", "https://user:pw@xn--bcher-kva.example:8443/"),
        ("https://shop.example/a b%20c", "https://shop.example/a%20b%20c"),
        ("https://shop.example/\r\nSet-Cookie: x=1", "https://shop.example/%0D%0ASet-Cookie:%20x=1"),
        ("https://🙂.example/", "https://xn--938h.example/"),
        ("https://" + "ü" * 64 + ".example/", "https://" + "%C3%BC" * 64 + ".example/"),  # no IDNA for it
    ],
)
def test_locations_are_ascii_and_cannot_break_the_header(url: str, location: str) -> None:
    assert as_location(url) == location
    assert as_location(url).isascii() and "\n" not in as_location(url)
