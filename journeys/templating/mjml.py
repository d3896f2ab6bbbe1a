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
(``href="{{ url | default('#') }}"``). An edit to a partial recompiles the bodies that
include it, as an edit to the body does.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

import mrml
from jinja2 import Environment, FileSystemLoader

from journeys.templating.catalog import TemplateError

# No web fonts: mrml would link Google Fonts by default, a remote fetch for every reader
# and a privacy leak; the layout names system fonts instead.
_RENDER = mrml.RenderOptions(disable_comments=True, fonts={})
_INCLUDE = re.compile(r"""<mj-include\b[^>]*?\bpath\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


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
        if not template.endswith(".mjml"):
            return source, filename, uptodate
        compiled = compile_mjml(source, filename, self.templates_dir)
        # Jinja2 asks before each use whether what it compiled is still current: the body
        # is, if neither it nor any file it mj-includes (at any depth) has changed since.
        stamps = {path: _mtime(path) for path in _included(source, Path(filename), Path(os.path.normpath(self.templates_dir)))}

        def current() -> bool:
            return uptodate() and all(_mtime(path) == stamp for path, stamp in stamps.items())

        return compiled, filename, current


def _included(source: str, including: Path, root: Path, seen: set[Path] | None = None) -> set[Path]:
    """Every file under ``root`` that ``source`` mj-includes, and what those include in turn
    (a path is the templates folder's, or, failing that, the including file's folder's)."""
    seen = set() if seen is None else seen
    for match in _INCLUDE.finditer(source):
        relative = (match.group(1) if match.group(1) is not None else match.group(2)).strip()
        for candidate in (root / relative, including.parent / relative):
            path = Path(os.path.normpath(candidate))
            if path in seen or not path.is_relative_to(root) or not path.is_file():
                continue
            seen.add(path)
            if path.suffix == ".mjml":
                try:
                    _included(path.read_text(), path, root, seen)
                except (OSError, UnicodeDecodeError):
                    pass  # mrml said what was wrong with it, or will
    return seen


def _mtime(path: Path) -> float | None:
    try:
        return os.path.getmtime(path)
    except OSError:
        return None

