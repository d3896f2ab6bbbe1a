"""Render a template for one customer: subject, HTML and text, in Jinja2's sandbox.

Templates are files the developer wrote (templates/<name>/); event and customer data are
only ever passed in as values, so nothing a customer types can become template code.
HTML is autoescaped; subject and text are not (they are not HTML).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, FileSystemLoader, TemplateNotFound, TemplateSyntaxError, select_autoescape
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment


from journeys.templating.catalog import TemplateError

__all__ = ["RenderedEmail", "TemplateError", "TemplateRenderer"]


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


class TemplateRenderer:
    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = Path(templates_dir)
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader(str(self.templates_dir)),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            # Missing data (even deep: signup.plan with no signup) renders empty, as in
            # every ESP template language, instead of failing the send.
            undefined=ChainableUndefined,
        )

    def render(self, name: str, context: dict[str, Any]) -> RenderedEmail:
        # Which templates exist, and what they are, is journeys/templating/catalog.py's to say;
        # the name is only kept from leaving the templates folder here.
        if not name or "/" in name or name.startswith("."):
            raise TemplateError(f"unknown template {name!r}")
        try:
            subject = self._env.get_template(f"{name}/subject.txt").render(context)
            html = self._env.get_template(f"{name}/body.html").render(context)
            text = self._env.get_template(f"{name}/body.txt").render(context)
        except TemplateNotFound as exc:
            raise TemplateError(f"template {name!r} is missing its part {exc.name!r}") from exc
        except TemplateSyntaxError as exc:
            raise TemplateError(f"template {name!r}: {exc.filename}:{exc.lineno}: {exc.message}") from exc
        except (SecurityError, UndefinedError, TypeError, ValueError) as exc:
            raise TemplateError(f"template {name!r} failed to render: {exc}") from exc
        # A subject is one line; header injection through data is impossible this way.
        subject = " ".join(subject.split())
        if not subject:
            raise TemplateError(f"template {name!r} rendered an empty subject")
        return RenderedEmail(subject=subject, html=html, text=text.strip() + "\n")

    def render_part(self, path: str, context: dict[str, Any]) -> str | None:
        """One file under the templates folder (e.g. the ``_footer``), None if there is none."""
        try:
            return self._env.get_template(path).render(context)
        except TemplateNotFound:
            return None
        except TemplateSyntaxError as exc:
            raise TemplateError(f"{exc.filename}:{exc.lineno}: {exc.message}") from exc
        except (SecurityError, UndefinedError, TypeError, ValueError) as exc:
            raise TemplateError(f"{path} failed to render: {exc}") from exc
