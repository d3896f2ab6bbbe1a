"""CSS inlined at render (css-inline), nothing fetched; the text part derived (inscriptis)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from journeys.templating.finishing import html_to_text, inline_css
from journeys.templating.renderer import TemplateRenderer
from journeys.templating.catalog import TemplateInfo
from journeys.tracking.links import Tracker, TrackingDefaults
from tests.journeys.templating.support import write

STYLED = (
    "<html><head><style>.note { color: #c00; padding: 4px } p { margin: 0 }"
    " @media only screen and (max-width: 620px) { .note { padding: 0 !important } }</style></head>"
    '<body><p class="note">Hi {{ name }}</p></body></html>'
)


def test_style_rules_are_inlined_and_the_style_block_kept_for_media_queries(tmp_path: Path) -> None:
    write(tmp_path, "t", {"subject.txt": "x", "body.html": STYLED})
    html = TemplateRenderer(tmp_path).render("t", {"name": "Ann"}).html
    assert '<p class="note" style="margin: 0;color: #c00;padding: 4px;">Hi Ann</p>' in html
    assert "@media only screen and (max-width: 620px) { .note { padding: 0 !important } }" in html, "media queries work only from <style>"


def test_a_style_block_marked_ignore_is_kept_and_not_inlined() -> None:
    html = inline_css('<html><head><style data-css-inline="ignore">p { margin: 0 }</style></head><body><p>x</p></body></html>')
    assert "<p>x</p>" in html and "p { margin: 0 }" in html


def test_html_without_style_is_left_byte_for_byte() -> None:
    fragment = '<p><a href="https://x.example/?a=1&amp;b=&#34;2&#34;">x</a></p>'
    assert inline_css(fragment) == fragment


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A port that records every connection made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                seen.append(conn.recv(1024))
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/css\r\n\r\np { color: red }")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], seen
    finally:
        stop.set()
        thread.join()
        server.close()


def test_remote_stylesheets_are_never_fetched(listener: tuple[int, list[bytes]]) -> None:
    port, seen = listener
    url = f"http://127.0.0.1:{port}/remote.css"
    html = inline_css(
        f'<html><head><link rel="stylesheet" href="{url}"><style>@import url("{url}"); b {{ color: blue }}</style></head>'
        "<body><p>x</p><b>y</b></body></html>"
    )
    assert seen == [], "nothing remote is loaded while rendering"
    assert "<p>x</p>" in html and 'style="color: blue;"' in html and "<link" not in html


def test_the_text_part_shows_links_as_text_then_url() -> None:
    text = html_to_text(
        '<p>Read <a href="https://shop.example/a?b=1&amp;c=2">the guide</a> or write to '
        '<a href="mailto:help@shop.example">help@shop.example</a>. <a href="#top">Top</a> '
        '<a href="https://shop.example/x">https://shop.example/x</a></p>'
    )
    assert text == (
        "Read the guide (https://shop.example/a?b=1&c=2) or write to help@shop.example. Top https://shop.example/x\n"
    )


def test_layout_tables_read_as_blocks_and_data_tables_as_columns() -> None:
    text = html_to_text(
        '<table role="presentation"><tr><td>Brand</td></tr><tr><td><p>Hello</p>'
        "<table><tr><th>Item</th><th>Qty</th></tr><tr><td>Mug</td><td>2</td></tr></table>"
        "</td></tr></table>"
    )
    assert text == "Brand\n\nHello\n\nItem  Qty\nMug   2\n"


def test_head_and_hidden_parts_are_not_text() -> None:
    text = html_to_text("<html><head><title>T</title><style>p{}</style></head><body><p>Body</p></body></html>")
    assert text == "Body\n"


def test_the_text_is_derived_before_tracking_rewrites_links(tmp_path: Path) -> None:
    write(tmp_path, "promo", {"subject.txt": "x", "body.html": '<html><body><a href="https://shop.example/sale">Sale</a></body></html>'})
    email = TemplateRenderer(tmp_path).render("promo", {})
    tracker = Tracker("https://journeys.example", b"k" * 32, TrackingDefaults())
    tracked, links = tracker.apply(email, "m1", TemplateInfo("promo", "marketing", "offers"))
    assert links == ["https://shop.example/sale"] and "/t/c/" in tracked.html
    assert tracked.text == "Sale (https://shop.example/sale)\n", "the text part names the URL itself"


def test_a_stylesheet_link_is_dropped_even_without_a_style_block() -> None:
    for link in ('<link rel="stylesheet" href="https://fonts.example/a.css">', "<LINK REL=StyleSheet HREF=https://x.example/b.css>",
                 '<link href="https://x.example/c.css" rel="alternate stylesheet" type="text/css" />'):
        html = inline_css(f"<html><head>{link}<title>t</title></head><body><p>x</p></body></html>")
        assert html == "<html><head><title>t</title></head><body><p>x</p></body></html>", link
    kept = '<link rel="icon" href="/favicon.ico">'
    assert inline_css(kept) == kept, "only stylesheets"


def test_remote_imports_and_font_files_are_dropped_so_no_mail_client_fetches_them(tmp_path: Path) -> None:
    """What an <mj-font> writes (a link, an @import) and an @font-face: fetched by the reader's
    client when the email is opened, telling a server who read it and when. System fonts only."""
    html = inline_css(
        "<html><head><style>@import url(https://fonts.example/css?family=X); @import 'https://x.example/a.css' screen;"
        " @font-face { font-family: X; src: url(https://fonts.example/x.woff2) format('woff2') } .a { color: red }</style>"
        '<style data-css-inline="ignore">@font-face { font-family: Y; src: local("Y") } @media (max-width: 480px) {'
        " .a { color: blue } }</style></head><body><p class=\"a\">x</p><p>Write to @import@example.com</p></body></html>"
    )
    assert "https://" not in html and "@import" not in html.split("<body>")[0]
    assert 'style="color: red;"' in html and "@media (max-width: 480px)" in html
    assert '@font-face { font-family: Y; src: local("Y") }' in html, "a local font loads nothing"
    assert "Write to @import@example.com" in html, "text is not CSS"
    write(tmp_path, "fonts", {"subject.txt": "x", "body.mjml": (
        '<mjml><mj-head><mj-font name="Raleway" href="https://fonts.example/css?family=Raleway" /></mj-head><mj-body>'
        '<mj-section><mj-column><mj-text font-family="Raleway, Arial">Hi</mj-text></mj-column></mj-section></mj-body></mjml>')})
    rendered = TemplateRenderer(tmp_path).render("fonts", {}).html
    assert "fonts.example" not in rendered and "Hi" in rendered
