"""Render a template for one customer: subject, preheader, HTML and text, in Jinja2's sandbox.

Templates are files the developer wrote (templates/<name>/, README "Templates"); event and
customer data are only ever passed in as values, so nothing a customer types can become
template code. HTML is autoescaped: ``body.html``, ``body.mjml`` and everything they
extend, include or import, whatever that file's extension (a ``.txt`` signature included
into the HTML is escaped there too); subject, preheader and text are not (they are not
HTML), so each part is rendered in the environment of its own kind.

Whatever goes wrong while rendering (a filter given a pattern babel cannot format, a macro
that calls itself for ever, a bug of ours) is a ``TemplateError`` naming the template and
the line: delivery fails the step for good and logs it, instead of retrying for ever.

A render is on the path of every send, so everything that does not depend on the data is
done once per template and kept: which files (and locales) a template has, its compiled
Jinja2 templates (MJML compiled once, journeys/templating/mjml.py), the CSS inliner and
babel's locales (journeys/templating/formatting.py).
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateNotFound, TemplateSyntaxError, Undefined
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing

from journeys.templating.catalog import TemplateError, TemplateOptions, read_options
from journeys.templating.finishing import add_preheader, html_to_text, inline_css
from journeys.templating.formatting import FILTERS, GLOBALS, STATE_KEY, RenderState, babel_locale, zone
from journeys.templating.mjml import TemplateLoader
from journeys.templating.variants import Variant, discover, fallback_chain, pick

__all__ = ["RenderedEmail", "TemplateError", "TemplateRenderer"]


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str
    # Already in the HTML as its hidden preview text; kept apart for previews and logs.
    preheader: str = ""


# A strict render's map from each dict and list in its context to the name it has there
# (id -> "order.items[0]"), so a missing key is named in full; per render, not global,
# since renders of different customers may interleave across threads.
_PATHS: ContextVar[dict[int, str] | None] = ContextVar("journeys_template_paths", default=None)


class _StrictUndefined(StrictUndefined):
    """Fails on any use, saying which variable is missing: ``'order.total' is missing``."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        if self._undefined_obj is missing:
            return f"{self._undefined_name!r} is missing"
        owner = (_PATHS.get() or {}).get(id(self._undefined_obj))
        if owner is None:
            return f"{self._undefined_name!r} is missing (from a {type(self._undefined_obj).__name__})"
        key = self._undefined_name
        return f"{f'{owner}[{key}]' if isinstance(key, int) else f'{owner}.{key}'!r} is missing"


class _StrictMissingKey(_StrictUndefined):
    """``order.items`` of a dict without that key: missing (named, in a strict template),
    though ``order.items()`` still calls the method."""

    __slots__ = ("method",)
    method: Any


class _LenientMissingKey(ChainableUndefined):
    """The same, rendering empty (``{% for item in cart.items %}`` loops over nothing)."""

    __slots__ = ("method",)
    method: Any


class _Sandbox(SandboxedEnvironment):
    missing_key: type[_StrictMissingKey] | type[_LenientMissingKey] = _LenientMissingKey

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Data before methods: {{ cart.items }} is the cart's items, not dict.items, as in
        # every ESP's template language (Jinja2 itself would look for the method first).
        # Without the key it is missing, never the method; called, it is the method still
        # ({{ cart.get("total", 0) }}).
        if type(obj) is dict:
            if attribute in obj:
                return obj[attribute]
            value = super().getattr(obj, attribute)
            if isinstance(value, Undefined):
                return value
            missing_key = self.missing_key(obj=obj, name=attribute)
            missing_key.method = value
            return missing_key
        return super().getattr(obj, attribute)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(__obj, (_StrictMissingKey, _LenientMissingKey)):
            __obj = __obj.method
        return super().call(__context, __obj, *args, **kwargs)

    def getitem(self, obj: Any, argument: Any) -> Any:
        # {{ cart["items"] }} is only ever the data: missing, it is missing, never the
        # dict.items method Jinja2 would fall back to.
        if type(obj) is dict:
            try:
                return obj[argument]
            except (KeyError, TypeError):
                return self.undefined(obj=obj, name=argument)
        return super().getitem(obj, argument)


def _environment(loader: TemplateLoader, strict: bool, html: bool) -> _Sandbox:
    env = _Sandbox(
        loader=loader,
        # By the part being rendered, not by each file's extension: what body.html
        # includes is HTML too, and what subject.txt includes is text.
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        # Lenient: missing data (even deep: signup.plan with no signup) renders empty, as
        # in every ESP template language, instead of failing the send. Strict (template.toml
        # strict = true): a missing variable fails the render, naming it.
        undefined=_StrictUndefined if strict else ChainableUndefined,
        # JSON null renders empty, like a missing value, not as "None".
        finalize=lambda value: "" if value is None else value,
        # Compiled templates are never evicted (there are only as many as files), so an
        # MJML body is compiled once per process; edits to a file are still picked up.
        cache_size=-1,
    )
    env.missing_key = _StrictMissingKey if strict else _LenientMissingKey
    env.filters.update(FILTERS)
    env.globals.update(GLOBALS)
    return env


def _is_html(path: str) -> bool:
    return path.endswith((".html", ".mjml"))


@dataclass
class _Template:
    """What one template folder holds, read once."""

    options: TemplateOptions
    variants: dict[str | None, Variant] = field(default_factory=dict)


class TemplateRenderer:
    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = Path(templates_dir)
        loader = TemplateLoader(self.templates_dir)
        # (strict, html) -> its environment; each keeps the templates it compiled.
        self._envs = {(strict, html): _environment(loader, strict, html) for strict in (False, True) for html in (False, True)}
        self._templates: dict[str, _Template] = {}

    def render(
        self, name: str, context: dict[str, Any], *, locale: str | None = None, timezone: str | None = None
    ) -> RenderedEmail:
        """The email for ``context`` (``customer`` in it gives the locale and zone unless
        ``locale=`` / ``timezone=`` say otherwise)."""
        template = self._template(name)
        customer = context.get("customer")
        profile: dict[str, Any] = customer if isinstance(customer, dict) else {}
        wanted = locale if locale is not None else profile.get("locale")
        variant = pick(template.variants, wanted if isinstance(wanted, str) else None)
        return self._render(name, template, variant, context, wanted, timezone or profile.get("timezone"))

    def render_variant(self, name: str, variant_locale: str | None, context: dict[str, Any]) -> RenderedEmail:
        """One variant exactly (``None``: the default files), whatever the customer's locale:
        what `journeys templates check` and previews render."""
        template = self._template(name)
        if variant_locale not in template.variants:
            raise TemplateError(f"template {name!r} has no locale {variant_locale!r}")
        variant = template.variants[variant_locale]
        customer = context.get("customer")
        profile: dict[str, Any] = customer if isinstance(customer, dict) else {}
        wanted = profile.get("locale") or variant.locale or template.options.locale
        return self._render(name, template, variant, context, wanted, profile.get("timezone"))

    def locales(self, name: str) -> list[str | None]:
        """The template's variants: None (the default files) first, then each locale."""
        variants = self._template(name).variants
        return [None, *sorted(tag for tag in variants if tag is not None)]

    def options(self, name: str) -> TemplateOptions:
        return self._template(name).options

    def render_part(self, path: str, context: dict[str, Any]) -> str | None:
        """One file under the templates folder (e.g. the ``_footer``), None if there is none;
        HTML (escaped) if its name ends in .html or .mjml, else text."""
        try:
            return self._envs[False, _is_html(path)].get_template(path).render(context)
        except TemplateNotFound as exc:
            if exc.name == path:
                return None
            raise TemplateError(f"{path} is missing its part {exc.name!r}") from exc
        except TemplateError:  # from the loader: MJML that does not compile, names the file
            raise
        except TemplateSyntaxError as exc:
            raise TemplateError(f"{exc.filename}:{exc.lineno}: {exc.message}") from exc
        except Exception as exc:  # anything else a render raised: the template's, never retried
            raise TemplateError(f"{path} failed to render: {_reason(exc)}{self._where(exc) or f' ({path})'}") from exc

    def _template(self, name: str) -> _Template:
        template = self._templates.get(name)
        if template is None:
            # Which templates exist, and what they are, is journeys/templating/catalog.py's to
            # say; the name is only kept from leaving the templates folder (or naming a
            # layout or partial) here.
            folder = self.templates_dir / name
            if not name or "/" in name or "\\" in name or name.startswith((".", "_")) or not folder.is_dir():
                raise TemplateError(f"unknown template {name!r}")
            template = _Template(read_options(folder), discover(self.templates_dir, name))
            self._templates[name] = template
        return template

    def _render(
        self, name: str, template: _Template, variant: Variant, context: dict[str, Any], wanted: object, zone_name: object
    ) -> RenderedEmail:
        strict = template.options.strict
        state = RenderState(
            babel_locale(wanted if isinstance(wanted, str) else None, template.options.locale),
            zone(zone_name if isinstance(zone_name, str) else None),
            fallback_chain(variant.locale),
        )
        # The email's language for <html lang="{{ lang }}">, unless the context has its own.
        values = {"lang": variant.locale or template.options.locale, **context, STATE_KEY: state}
        paths = _PATHS.set(_paths_of(context)) if strict else None
        part = variant.subject

        def render(path: str) -> str:
            nonlocal part
            part = path
            return self._envs[strict, _is_html(path)].get_template(path).render(values)

        try:
            subject = render(variant.subject)
            preheader = render(variant.preheader) if variant.preheader else ""
            html = render(variant.body)
            text = render(variant.text) if variant.text else None
        except TemplateError as exc:  # from the loader: MJML that does not compile
            raise TemplateError(f"template {name!r}: {exc}") from exc
        except TemplateNotFound as exc:
            raise TemplateError(f"template {name!r} is missing its part {exc.name!r}") from exc
        except TemplateSyntaxError as exc:
            raise TemplateError(f"template {name!r}: {exc.filename}:{exc.lineno}: {exc.message}") from exc
        except UndefinedError as exc:
            if strict:
                raise TemplateError(f"template {name!r} is strict and {exc}{self._where(exc)}") from exc
            raise TemplateError(f"template {name!r} failed to render: {exc}{self._where(exc)}") from exc
        except Exception as exc:  # anything else a render raised: the template's, never retried
            raise TemplateError(f"template {name!r} failed to render: {_reason(exc)}{self._where(exc) or f' ({part})'}") from exc
        finally:
            if paths is not None:
                _PATHS.reset(paths)
        # A subject is one line; header injection through data is impossible this way.
        subject = " ".join(subject.split())
        if not subject:
            raise TemplateError(f"template {name!r} rendered an empty subject")
        preheader = " ".join(preheader.split())
        try:
            # The text first, from the HTML as written (finishing.py says why).
            text = text.strip() + "\n" if text is not None else html_to_text(html)
            html = inline_css(add_preheader(html, preheader))
        except TemplateError as exc:
            raise TemplateError(f"template {name!r}: {exc}") from exc
        except Exception as exc:  # the HTML as written tripped a library: the template's too
            raise TemplateError(f"template {name!r}: the rendered HTML could not be finished: {_reason(exc)}") from exc
        return RenderedEmail(subject=subject, html=html, text=text, preheader=preheader)

    def _where(self, exc: BaseException) -> str:
        """`` (welcome/body.html line 3)``: the innermost template line in the traceback
        (Jinja2 rewrites tracebacks to point at template files). MJML lines are of the
        compiled HTML, so only the file is named."""
        found = ""
        tb: TracebackType | None = exc.__traceback__
        root = str(self.templates_dir) + os.sep
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if filename.startswith(root):
                relative = filename[len(root) :]
                found = f" ({relative})" if relative.endswith(".mjml") else f" ({relative} line {tb.tb_lineno})"
            tb = tb.tb_next
        return found


def _reason(exc: BaseException) -> str:
    """What a failure says; the kind too where the message alone would not tell (a
    RecursionError's "maximum recursion depth exceeded", an AttributeError of ours)."""
    if isinstance(exc, (SecurityError, UndefinedError, TypeError, ValueError, ArithmeticError, LookupError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _paths_of(context: dict[str, Any]) -> dict[int, str]:
    """id of every dict and list in the context -> its dotted name (for strict messages)."""
    found: dict[int, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            found[id(value)] = path
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            found[id(value)] = path
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")

    for key, value in context.items():
        walk(value, str(key))
    return found
