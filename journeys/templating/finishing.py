"""What happens to a rendered HTML body before it leaves the renderer, in this order:

1. the text part, when the template has no ``body.txt``, is derived from the HTML
   (inscriptis), first, while every link still points where the author wrote it;
   tracking rewrites links later (journeys/tracking/) and must not show in the text;
2. the preheader goes in as the hidden preview text right after ``<body>``;
3. the CSS of ``<style>`` blocks is inlined (css-inline) into ``style=""`` attributes,
   because Outlook and many webmail clients ignore ``<head>`` styles. The ``<style>``
   blocks stay too: media queries (the layout's 375 px rules) only work from there.
   Nothing remote is fetched, now or by the reader's mail client later: ``<link>``
   stylesheets, ``@import`` rules and ``@font-face`` rules with a ``url()`` (an
   ``<mj-font>`` writes all three) are dropped, not loaded. A stylesheet or font fetched
   when the email is opened tells its server who read it and when (and most clients
   refuse them anyway); the layout names system fonts instead. Images are the exception:
   they are fetched as written, as in every email.
"""

from __future__ import annotations

import html as html_escaping
import re

import css_inline
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.html_engine import Inscriptis
from inscriptis.html_properties import Display
from inscriptis.model.config import ParserConfig
from inscriptis.model.html_element import HtmlElement as TextStyle
from lxml import etree
from lxml.html import HtmlElement, document_fromstring

from journeys.templating.catalog import TemplateError

# One inliner for every render: it is immutable, and building it parses its options.
_INLINER = css_inline.CSSInliner(keep_style_tags=True, keep_link_tags=False, load_remote_stylesheets=False)
# "strict": blocks as lines without the indentation the "relaxed" profile gives divs. A
# layout table (renamed, below) is a block set apart by a blank line, as a paragraph is, so
# a list and the button after it do not run together.
_LAYOUT_BLOCK = "layout-block"
_TEXT_CSS = {**CSS_PROFILES["strict"], _LAYOUT_BLOCK: TextStyle(display=Display.block, margin_before=1, margin_after=1)}
_TEXT_CONFIG = ParserConfig(css=_TEXT_CSS, display_links=False, table_cell_separator="  ")

_BODY_START = re.compile(r"<body(?=[\s>/])[^>]*>", re.IGNORECASE)
_STYLE = re.compile(r"<style[\s>]", re.IGNORECASE)
_LINK = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_STYLESHEET = re.compile(r"""\brel\s*=\s*["']?[^"'>]*\bstylesheet\b""", re.IGNORECASE)
_STYLE_BLOCK = re.compile(r"(<style\b[^>]*>)(.*?)(</style\s*>)", re.IGNORECASE | re.DOTALL)
# @import "x.css"; @import url(x.css) screen; ... up to its semicolon (or the block's end).
_IMPORT = re.compile(r"""@import\b(?:"[^"]*"|'[^']*'|[^;"'{}])*;?""", re.IGNORECASE)
_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\burl\s*\([^}]*\}", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n{3,}")
_ROW_GROUPS = ("tbody", "thead", "tfoot")
# Links a reader of the text part can follow; the rest (anchors, javascript:) say nothing.
_SHOWN_SCHEMES = ("http://", "https://", "mailto:")


def add_preheader(document: str, preheader: str) -> str:
    """The preview text inbox lists show after the subject, hidden in the email itself."""
    if not preheader:
        return document
    hidden = (
        '<div style="display:none;max-height:0;max-width:0;overflow:hidden;opacity:0;mso-hide:all" aria-hidden="true">'
        f"{html_escaping.escape(preheader)}</div>"
    )
    body = _BODY_START.search(document)
    if body is None:
        return hidden + document
    return document[: body.end()] + hidden + document[body.end() :]


def inline_css(document: str) -> str:
    """``<style>`` rules copied onto the elements they match; a document without any is
    returned as written (nothing to inline, and its markup stays byte for byte), but for
    remote stylesheets and fonts, which are always dropped."""
    document = drop_remote_styles(document)
    if not _STYLE.search(document):
        return document
    try:
        return _INLINER.inline(document)
    except css_inline.InlineError as exc:  # e.g. a selector css-inline cannot read
        raise TemplateError(f"CSS could not be inlined: {exc}") from exc


def drop_remote_styles(document: str) -> str:
    """Without ``<link rel="stylesheet">``, and ``<style>`` blocks without ``@import`` and
    ``@font-face`` rules that load a font (module docstring)."""
    document = _LINK.sub(lambda link: "" if _STYLESHEET.search(link.group(0)) else link.group(0), document)

    def local_only(block: re.Match[str]) -> str:
        css = _FONT_FACE.sub("", _IMPORT.sub("", block.group(2)))
        return block.group(1) + css + block.group(3)

    return _STYLE_BLOCK.sub(local_only, document) if "@" in document else document


def html_to_text(document: str) -> str:
    """The plain-text part from the HTML: paragraphs as lines, links as "text (url)",
    layout tables (``role="presentation"``) as plain blocks, data tables as columns."""
    if not document.strip():
        return "\n"
    try:
        tree = document_fromstring(document)
    except (etree.ParserError, ValueError) as exc:
        raise TemplateError(f"the HTML could not be read to derive the text part: {exc}") from exc
    head = tree.find("head")
    if head is not None:  # styles and title are no text; walking them costs
        head.drop_tree()
    _flatten_layout_tables(tree)
    _show_link_targets(tree)
    text = Inscriptis(tree, _TEXT_CONFIG).get_text()
    lines = "\n".join(line.rstrip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", lines).strip() + "\n"


def _flatten_layout_tables(tree: HtmlElement) -> None:
    """Email layouts are tables for Outlook's sake; as text they would be columns padded
    with spaces. A table marked ``role="presentation"`` (as the layout's and MJML's are)
    reads as the blocks it holds; a table of data (the cart's items) stays a table."""
    layout = [table for table in tree.iter("table") if table.get("role") == "presentation"]
    for table in layout:  # its own rows and cells only: a table nested in a cell is its own
        for child in table:
            rows = list(child) if child.tag in _ROW_GROUPS else [child]
            for row in rows:
                if row.tag == "tr":
                    for cell in row:
                        if cell.tag in ("td", "th"):
                            cell.tag = "div"
                    row.tag = "div"
            if child.tag in _ROW_GROUPS:
                child.tag = "div"
        table.tag = _LAYOUT_BLOCK


def _show_link_targets(tree: HtmlElement) -> None:
    for link in tree.iter("a"):
        href = (link.get("href") or "").strip()
        if not href.lower().startswith(_SHOWN_SCHEMES):
            continue
        shown = href[len("mailto:") :] if href.lower().startswith("mailto:") else href
        label = " ".join(link.text_content().split())
        if label == shown:
            continue  # "https://x (https://x)" says it twice
        link.tail = (f" ({shown})" if label else shown) + (link.tail or "")
