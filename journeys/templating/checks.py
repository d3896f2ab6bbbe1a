"""Every template, in every locale it has, rendered with the sample context of its
template.toml: what `journeys templates check` runs (journeys/cli/templates.py), so a
broken template fails CI instead of a customer's send.

    [sample.customer]                       # over a default sample customer
    email = "ann@example.com"
    timezone = "Europe/Berlin"
    attributes = { first_name = "Ann" }

    [sample.context]                        # what the journey passes to send()
    signup = { plan = "pro" }

Each variant is rendered as a customer of its own locale would get it (``customer.locale``
set to the variant's tag; the default files with the sample's locale, else the template's
``locale``), so the French variant is checked with French numbers and dates.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journeys.templating.catalog import TemplateCatalog, TemplateError, TemplateInfo, TemplateOptions
from journeys.templating.formatting import known_locale
from journeys.templating.renderer import RenderedEmail, TemplateRenderer

# What a marketing email adds to its context, given by the caller (consent sits above us).
Extras = Callable[[TemplateInfo], dict[str, Any]]
# What happens to the rendered email before it would be sent (the marketing footer).
Finish = Callable[[RenderedEmail, TemplateInfo], RenderedEmail]


@dataclass(frozen=True)
class CheckResult:
    template: str
    locale: str  # "fr", or "en (default)" for the files without a tag; "-" when none could be read
    error: str | None = None
    email: RenderedEmail | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def sample_context(name: str, options: TemplateOptions, locale: str | None) -> dict[str, Any]:
    """The sample as a journey's send would pass it: the context, and a full customer."""
    sample = copy.deepcopy(options.sample)  # a render must not change the next one's sample
    customer: dict[str, Any] = {"id": f"sample-{name}", "email": "sample@example.com", "timezone": "UTC",
                                "locale": None, "attributes": {}}
    customer.update(sample.get("customer", {}))
    customer["locale"] = locale or customer.get("locale") or options.locale
    return {**sample.get("context", {}), "customer": customer}


def check_templates(templates_dir: Path, *, extras: Extras | None = None, finish: Finish | None = None) -> list[CheckResult]:
    """One result per template and locale, in name order; a template that cannot be read
    at all (no category, a misnamed file) is one result with locale "-"."""
    catalog = TemplateCatalog(templates_dir)
    renderer = TemplateRenderer(templates_dir)
    results: list[CheckResult] = []
    for name in catalog.names():
        try:
            info = catalog.get(name)
            locales = renderer.locales(name)
            options = renderer.options(name)
        except TemplateError as exc:
            results.append(CheckResult(name, "-", str(exc)))
            continue
        for tag in locales:
            label = tag if tag is not None else f"{info.locale} (default)"
            try:
                if tag is not None and not known_locale(tag):
                    raise TemplateError(f"template {name!r}: no locale data for {tag!r} (numbers and dates would be English)")
                context = {**sample_context(name, options, tag), **(extras(info) if extras else {})}
                email = renderer.render_variant(name, tag, context)
                if finish is not None:
                    email = finish(email, info)
            except TemplateError as exc:
                results.append(CheckResult(name, label, str(exc)))
            else:
                results.append(CheckResult(name, label, email=email))
    return results
