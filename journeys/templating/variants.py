"""The files of one template folder, grouped by locale.

A template's parts are ``subject.txt``, ``preheader.txt`` (optional), ``body.html`` or
``body.mjml``, and ``body.txt`` (optional: derived from the HTML when absent). A locale's
variant puts the language tag before the extension, ``subject.fr.txt``, ``body.fr.html``,
``body.pt-BR.mjml``: one folder holds every language of an email, so a translation sits
beside what it translates and a reviewer sees both in one diff.

A customer's locale picks the variant along a fallback chain, ``fr-CA`` then ``fr`` then
the files without a tag. A variant is taken whole, never part by part: a French subject
over an English body is worse than an English email. So a variant needs its own subject and
body, and its own preheader when the default has one; its text part, when it has no
``body.<tag>.txt``, is derived from its own HTML (never the default's text, which is in
another language).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from journeys.templating.catalog import LOCALE_PATTERN, TemplateError

# subject.txt, body.fr.html, preheader.pt-BR.txt, body.mjml ...
_PART = re.compile(r"^(subject|preheader|body)(?:\.([^.]+))?\.(txt|html|mjml)$")
_KIND = {("subject", "txt"): "subject", ("preheader", "txt"): "preheader", ("body", "html"): "html",
         ("body", "mjml"): "mjml", ("body", "txt"): "text"}


@dataclass(frozen=True)
class Variant:
    """One language of a template: loader paths (``welcome/body.fr.html``) of its parts."""

    locale: str | None  # None: the files without a tag (the template.toml's ``locale``)
    subject: str
    body: str  # body.html or body.mjml (compiled once, journeys/templating/mjml.py)
    preheader: str | None = None
    text: str | None = None  # None: derived from the HTML


def canonical(tag: str) -> str:
    """``fr_ca`` -> ``fr-CA``, ``zh-hant-tw`` -> ``zh-Hant-TW``: one spelling for lookups and babel."""
    first, *rest = tag.replace("_", "-").split("-")
    out = [first.lower()]
    for part in rest:
        out.append(part.title() if len(part) == 4 else part.upper() if len(part) == 2 else part.lower())
    return "-".join(out)


@lru_cache(maxsize=1024)
def fallback_chain(locale: str | None) -> tuple[str, ...]:
    """``fr-CA`` -> (``fr-CA``, ``fr``); the default comes after it. Cached: it runs per send."""
    if not locale or not LOCALE_PATTERN.match(locale):
        return ()
    parts = canonical(locale).split("-")
    return tuple("-".join(parts[:n]) for n in range(len(parts), 0, -1))


def discover(templates_dir: Path, name: str) -> dict[str | None, Variant]:
    """Every variant of the template ``name``, by locale (None for the default)."""
    folder = templates_dir / name
    found: dict[str | None, dict[str, str]] = {}
    for path in sorted(folder.iterdir()):
        match = _PART.match(path.name)
        if not match or not path.is_file():
            continue
        part, tag, ext = match.groups()
        kind = _KIND.get((part, ext))
        if kind is None:
            raise TemplateError(f"template {name!r}: {path.name} is not a part ({part} is .txt"
                                f"{', .html or .mjml' if part == 'body' else ''})")
        if tag is not None and not LOCALE_PATTERN.match(tag):
            raise TemplateError(f"template {name!r}: {path.name}: {tag!r} is not a language tag (fr, pt-BR, ...)")
        locale = canonical(tag) if tag is not None else None
        parts = found.setdefault(locale, {})
        if kind in ("html", "mjml") and "body" in parts:
            raise TemplateError(f"template {name!r}: one body per locale, not both {parts['body'].split('/')[-1]} and {path.name}")
        parts["body" if kind in ("html", "mjml") else kind] = f"{name}/{path.name}"
    variants = {locale: _variant(name, locale, parts) for locale, parts in found.items()}
    default = variants.get(None)
    for locale, variant in variants.items():
        if default is not None and default.preheader and not variant.preheader:
            raise TemplateError(f"template {name!r}: locale {locale!r} has no preheader.{locale}.txt "
                                "(the default has one, and an English preview over a translated email reads as a mistake)")
    if None not in variants:
        raise TemplateError(f"template {name!r} has no subject.txt (a default for customers of other locales)")
    return variants


def _variant(name: str, locale: str | None, parts: dict[str, str]) -> Variant:
    suffix = f".{locale}" if locale else ""
    for required, files in (("subject", f"subject{suffix}.txt"), ("body", f"body{suffix}.html or body{suffix}.mjml")):
        if required not in parts:
            raise TemplateError(f"template {name!r} is missing its part {files!r}")
    return Variant(locale, parts["subject"], parts["body"], parts.get("preheader"), parts.get("text"))


def pick(variants: dict[str | None, Variant], locale: str | None) -> Variant:
    """The variant for a customer's locale: the first of its fallback chain the template has."""
    for tag in fallback_chain(locale):
        variant = variants.get(tag)
        if variant is not None:
            return variant
    return variants[None]
