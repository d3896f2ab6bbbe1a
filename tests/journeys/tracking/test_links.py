"""Rewriting an email's HTML: which links become tracked redirects, the pixel, the defaults."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from urllib.parse import urlsplit

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
        # IDNA 2008 refuses an emoji a browser takes: percent-encoded, the browser decodes
        # it and applies UTS 46 itself (both lead to xn--938h.example).
        ("https://🙂.example/", "https://%F0%9F%99%82.example/"),
        ("https://" + "ü" * 64 + ".example/", "https://" + "%C3%BC" * 64 + ".example/"),  # no IDNA for it
    ],
)
def test_locations_are_ascii_and_cannot_break_the_header(url: str, location: str) -> None:
    assert as_location(url) == location
    assert as_location(url).isascii() and "\n" not in as_location(url)


# ----- the redirect leads where the link as written leads (WHATWG URL, UTS 46) ----------------


@pytest.mark.parametrize(
    ("written", "stored", "host"),
    [
        # A browser reads "\" as "/" in an http(s) URL: the link is a path on shop.example.
        ("https://shop.example\\@evil.example/offer", "https://shop.example/@evil.example/offer", "shop.example"),
        # UTS 46, non-transitional, as browsers: not IDNA 2003's "fass.de" / "xn--wxaikc6b.gr".
        ("https://faß.de/angebot", "https://faß.de/angebot", "xn--fa-hia.de"),
        ("https://σόλος.gr/", "https://σόλος.gr/", "xn--wxaijb9b.gr"),
        ("https:\\\\shop.example\\a?q=\\x#\\y", "https://shop.example/a?q=\\x#\\y", "shop.example"),
    ],
)
def test_the_redirect_leads_to_the_host_a_browser_reads_in_the_link(written: str, stored: str, host: str) -> None:
    _, links = rewrite(f'<a href="{written}">x</a>')
    assert links == [stored], "stored as the browser follows it"
    assert urlsplit(as_location(stored)).hostname == host
    assert urlsplit(as_location(written)).hostname == host, "a link stored before this was known leads there too"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js (its WHATWG URL parser, Chrome's) is not installed")
def test_locations_and_links_agree_with_a_browsers_url_parser() -> None:
    hosts = ["shop.example", "faß.de", "σόλος.gr", "🙂.example", "ü" * 64 + ".example", "-ü.example", "ü_x.example",
             "Bücher.EXAMPLE", "shop.example。evil", "ｅｘａｍｐｌｅ.com", "ü%41.example", "user:pw@ü.example:8443",
             "shop.example\\@evil.example", "شبكة.example", "ß.ß", "[::1]", "0x7f.1"]
    links = [f"https://{h}{p}" for h in hosts for p in ("/", "\\p\\q?x=\\#\\")]
    pairs = []
    for link in links:
        _, [stored] = rewrite(f'<a href="{html.escape(link)}">x</a>')
        pairs.append([link, as_location(stored)])
    script = (
        "const host = u => { try { return new URL(u).host } catch (e) { return null } };"
        "console.log(JSON.stringify(JSON.parse(process.argv[1]).map(([a, b]) => [host(a), host(b)])))"
    )
    answer = subprocess.run(["node", "-e", script, json.dumps(pairs)], capture_output=True, text=True, check=True, timeout=30)
    hosts_seen = json.loads(answer.stdout)
    wrong = [(link, location, seen) for (link, location), seen in zip(pairs, hosts_seen) if seen[0] != seen[1]]
    assert wrong == []


# ----- what is a link: as a browser's HTML tokenizer reads the document ------------------------


@pytest.mark.parametrize(
    "html_text",
    [
        '<!-- <a href="https://old.example/">old</a> -->',
        "<script>var s = '<a href=\"https://n.example/\">';</script>",
        # "<!--<script>" in a script's text: the first "</script>" does not end it (WHATWG "double escaped").
        '<script><!--<script></script><a href="https://n.example/"></script>',
        '<style>/* <a href="https://o.example/"> */ a{color:red}</style>',
        '<STYLE type="text/css"><a href="https://o.example/"></style >',
        '<title><a href="https://p.example/"></title>',
        '<textarea><a href="https://t.example/"></textarea>',
        "<img alt=\"<a href='https://q.example/'>\" src=\"x.png\">",
        '<div data-x=\'<a href="https://q.example/">\'>',
        '<!DOCTYPE html><a href="/relative">',
        '<a name=top>',
    ],
)
def test_what_a_browser_does_not_read_as_a_link_is_not_tracked_and_left_byte_for_byte(html_text: str) -> None:
    document = f"<p>before</p>{html_text}<p>after</p>"
    tracked, links = rewrite(document)
    assert [link for link in links if "example" in link] == []
    assert tracked == document


def test_a_link_after_comments_scripts_styles_and_odd_attributes_is_tracked_and_nothing_else_changes() -> None:
    document = (
        '<!doctype html><html><head><title>Sale <a href="https://no.example/"></title>'
        '<style>a > b { color: red } /* <a href="https://no.example/"> */</style></head>'
        '<body><!-- a comment with a <a href="https://no.example/"> in it -->'
        '<script>document.write("<a href=\\"https://no.example/\\">")</script>'
        "<img alt=\"<a href='https://no.example/'>\" src=\"https://cdn.example/i.png\">"
        "<a title=it's href=\"https://one.example/\">one</a>"  # a quote inside an unquoted value is text
        "<a class=x href=https://two.example/?a=1&amp;b=2>two</a>"
        '<a data-href="https://no.example/" href="https://three.example/" href="https://no.example/">three</a>'
        '<!---><a href="https://four.example/">four</a>'  # "<!--->" is a whole (empty) comment
        "</body></html>"
    )
    tracked, links = rewrite(document)
    assert links == ["https://one.example/", "https://two.example/?a=1&b=2", "https://three.example/", "https://four.example/"]
    # Every byte but the three href values is as it was.
    assert TRACKED.sub("T", tracked) == document.replace('"https://one.example/"', '"T"').replace(
        "https://two.example/?a=1&amp;b=2", '"T"').replace('href="https://three.example/"', 'href="T"').replace(
        '"https://four.example/"', '"T"')


def test_links_in_outlooks_conditional_comments_are_tracked() -> None:
    """<!--[if mso]> ... <![endif]--> is a comment to browsers and markup to Outlook, which
    shows the links in it: they are tracked (what every ESP does)."""
    document = (
        '<!--[if mso]><a href="https://outlook.example/">o</a><![endif]-->'
        '<!--[if !mso]><!--><a href="https://others.example/">x</a><!--<![endif]-->'
        '<!--[IF (gte mso 9)|(IE)]><table><tr><td><a href="https://vml.example/">v</a></td></tr></table><![endif]-->'
    )
    _, links = rewrite(document)
    assert links == ["https://outlook.example/", "https://others.example/", "https://vml.example/"]


def test_an_attribute_value_is_read_as_a_browser_decodes_it() -> None:
    """In an attribute, a named reference without ";" before "=" or a letter stays as written
    (WHATWG HTML, "named character reference state"): &region= is not ®ion=."""
    _, links = rewrite(
        '<a href="https://x.example/?a=1&region=eu&copy=2&not;&amp;z&lt;b&#x41;&#66;">x</a>'
        "<a href='https://y.example/?q=&amp&para=1&ampx'>y</a>"
    )
    assert links == ["https://x.example/?a=1&region=eu&copy=2¬&z<bAB", "https://y.example/?q=&&para=1&ampx"]


def test_an_unfinished_tag_ends_the_markup_as_in_a_browser() -> None:
    document = '<a href="https://one.example/">1</a><img alt="never closed><a href="https://two.example/">2</a>'
    tracked, links = rewrite(document)
    assert links == ["https://one.example/"], "a browser reads the rest as the unclosed attribute"
    assert tracked.endswith('<img alt="never closed><a href="https://two.example/">2</a>')


def test_the_pixel_goes_before_the_last_real_body_end_tag() -> None:
    document = "<body>hi<script>'</body>'</script><!-- </body> --></body><!-- </body> -->"
    assert add_pixel(document, "https://p/x") == (
        "<body>hi<script>'</body>'</script><!-- </body> -->" + add_pixel("", "https://p/x") + "</body><!-- </body> -->"
    )
