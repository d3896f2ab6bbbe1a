"""The links we track are the links a browser sees: random documents of the HTML that trips
up pattern matching (comments, scripts, styles, quotes in odd places, unfinished tags),
read by our scanner and by Chromium's parser (Debian's /usr/bin/chromium, never a
downloaded one, driven by Playwright, as the dashboard's browser tests)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from journeys.tracking.links import _scan, attribute_value

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed (apt-get install chromium)")

PIECES = [
    '<a href="https://a{n}.example/">x</a>', "<a href='https://b{n}.example/'>", "<a href=https://c{n}.example/>",
    '<A HREF = "https://d{n}.example/">', '<a\n\thref="https://e{n}.example/">', '<a title="x>y" href="https://f{n}.example/">',
    "<a title=it's href=\"https://g{n}.example/\">", '<a href="https://h{n}.example/" href="https://h2.example/">',
    '<a data-href="x" href="https://i{n}.example/">', '<area href="https://j{n}.example/">', '<a/href="https://k{n}.example/">',
    '<a href="https://l{n}.example/?a=1&amp;b=2&region=x&copy=3&not;">', '<a =" href="https://m{n}.example/">',
    '<a ="x=" >', '<a a="b"c href="https://n{n}.example/">', "<a href>", "<a href=>", "<a href = >",
    '<!-- <a href="https://no.example/"> -->', "<!---->", "<!--->", "<!-->", "<!-- x --!>", "<!-- a -- b -->", "<!--", "-->",
    "<script>", "</script>", "<script>x='<a href=\"https://no.example/\">'</script>", "<!--<script>", "</script/>",
    "<sCrIpT type=x>", "<style>", "</style>", "<STYLE>", "</Style >", "<title>", "</title>", "<textarea>", "</textarea>",
    "<xmp>", "</xmp>", "<noscript>", "</noscript>", "<iframe>", "</iframe>", "<noembed>", "</noembed>",
    "<img alt=\"<a href='https://no.example/'>\">", "<div x='\"'>", "<div x=\"'\">", '<div a=b"c>', "<div a='b>",
    "<!DOCTYPE html>", "<![CDATA[ x ]]>", "<![endif]-->", "<?php x ?>", "</1>", "</>", "< a href='https://no.example/'>",
    "<", ">", "&lt;a href=x&gt;", "<p>text</p>", "<br/>", "</a>", "<td style=\"a:b\">", "<td nowrap>", "'", '"', "=", "/",
    "<a\x0chref='https://o{n}.example/'>", "<a href='https://p{n}.example/'/>", "<a href\n=\n'https://q{n}.example/'>",
    "<plaintext>", '<a href="https://r{n}.example/"', '<div class="x', "<a\rhref='https://s{n}.example/'>",
    "<table><tr><td><a href=https://u{n}.example/>", "<a href='https://v{n}.example/' ></a >", "</a href='https://no.example/'>",
]


def documents(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES).replace("{n}", str(i)) for i in range(rng.randint(1, 14))) for _ in range(count)]


async def test_the_links_found_are_the_links_chromium_parses() -> None:
    from playwright.async_api import async_playwright

    docs = documents(1500, seed=13)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = await browser.new_page()
            # The tree builder may clone an <a> (a link still open when a block starts): the
            # same link twice, one tag. Compared as sets of non-empty hrefs, HTML elements only.
            theirs = await page.evaluate(
                """docs => docs.map(d => [...new DOMParser().parseFromString(d, "text/html").querySelectorAll("a, area")]
                    .filter(e => e.namespaceURI === "http://www.w3.org/1999/xhtml" && e.getAttribute("href"))
                    .map(e => e.getAttribute("href")))""",
                docs,
            )
        finally:
            await browser.close()
    wrong = [
        (doc, ours, sorted(set(chromium)))
        for doc, chromium in zip(docs, theirs)
        if (ours := sorted({attribute_value(value) for _, _, value in _scan(doc)[0]} - {""})) != sorted(set(chromium))
    ]
    assert wrong[:3] == []
