"""``body.mjml``: compiled to HTML by mrml (the Rust port of MJML) once, when the template
is loaded, with its Jinja2 placeholders still in it.

mrml passes text it does not interpret through as written, so ``{{ customer.email }}`` in
an ``<mj-text>``, ``{% for %}`` between sections and ``href="{{ url }}"`` all reach the
compiled HTML unchanged; that HTML is then an ordinary Jinja2 template, autoescaped, and
customer data only ever meets it at render time, in the sandbox. Compiling per send would
cost more than the rest of a render, and would run MJML over customer data.

Partials come from ``<mj-include path="_partials/header.mjml" />``, read from the
templates folder only (mrml's local loader; nothing remote). MJML is XML: inside Jinja2
tags write ``b > a`` rather than ``a < b``, and keep quotes in attributes single
(``href="{{ url | default('#') }}"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import mrml
from jinja2 import Environment, FileSystemLoader

from journeys.templating.catalog import TemplateError

# No web fonts: mrml would link Google Fonts by default, a remote fetch for every reader
# and a privacy leak; the layout names system fonts instead.
_RENDER = mrml.RenderOptions(disable_comments=True, fonts={})


def compile_mjml(source: str, filename: str, templates_dir: Path) -> str:
    """The HTML of one MJML document, its Jinja2 markup intact."""
    options = mrml.ParserOptions(include_loader=mrml.local_loader(str(templates_dir)))
    try:
        return mrml.to_html(source, parser_options=options, render_options=_RENDER).content
    except Exception as exc:  # mrml raises OSError for every parse problem, with a position
        raise TemplateError(f"{filename}: MJML does not compile: {exc}") from exc


class TemplateLoader(FileSystemLoader):
    """The templates folder; ``*.mjml`` files come out compiled. Jinja2 caches what a loader
    gives (and reloads it only when the file changes), so each is compiled once."""

    def __init__(self, templates_dir: Path) -> None:
        super().__init__(str(templates_dir))
        self.templates_dir = templates_dir

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if template.endswith(".mjml"):
            source = compile_mjml(source, filename, self.templates_dir)
        return source, filename, uptodate

