"""Seeing an email before customers do: a template rendered as a send would render it.

The render is the delivery activity's (activities/deliver.py, ``_compose``): the template
with ``customer`` and the context, and for marketing the unsubscribe link, footer and
headers (List-Unsubscribe, List-Unsubscribe-Post, List-Id). For whom:

- ``customer_id``: that customer's profile as it is now (an id merged into another
  customer is that customer, journeys/customers/identity.py); unknown: ``UnknownCustomer``;
- without: the template's sample customer (``[sample.customer]`` of its template.toml,
  journeys/templating/checks.py ``sample_context``).

The context is the sample's (``[sample.context]``), with the top-level keys of the given
``context`` in place of the sample's: ``{"cart": {...}}`` replaces the sample cart and keeps
the rest. ``locale`` stands in for the customer's own and picks the variant (``fr``) as it
would for a customer of that locale.

**Not tracked.** A send rewrites links into signed redirects and adds an open pixel
(journeys/tracking/links.py), both naming the message; a preview is no message, so its
links are as written and it has no pixel. ``tracking`` says what a real send of the
template would track. The unsubscribe link is real (signed for the customer rendered)
but names no message, so following it counts against no send.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, Field

from journeys.consent.unsubscribe_footer import MarketingFooter
from journeys.customers.identity import resolve
from journeys.customers.profiles import get_customer
from journeys.providers.list_id import list_id
from journeys.storage.database import Database
from journeys.storage.settings import Settings
from journeys.templating.catalog import TemplateCatalog, TemplateError, TemplateInfo
from journeys.templating.checks import sample_context
from journeys.templating.renderer import RenderedEmail, TemplateRenderer
from journeys.templating.variants import fallback_chain
from journeys.tracking.links import Tracker


class UnknownTemplate(Exception):
    """No template of that name; the message names the ones there are."""


class UnknownCustomer(Exception):
    """No customer with that id (never seen, or erased)."""


class RenderFailed(Exception):
    """The template does not render for this data: the message names the template and why
    (a strict template's missing variable: ``'order.total' is missing``)."""


class Tracking(BaseModel):
    """What a real send of this template tracks (template.toml, else the category's
    default); never applied to a preview or a test send."""

    opens: bool
    clicks: bool


class TemplatePreview(BaseModel):
    template: str
    category: str = Field(description="transactional or marketing (template.toml)")
    topic: str | None = Field(description="the marketing topic; null for transactional mail")
    customer_id: str = Field(description="whose data it is rendered with (sample-<template> for the sample)")
    sample: bool = Field(description="rendered for the template's sample customer ([sample] in template.toml)")
    locale: str = Field(description="the language of the files rendered (a variant such as fr, else the template's locale)")
    locales: list[str] = Field(description="every language the template has, the default files' first")
    subject: str
    preheader: str = Field(description="the preview text inbox lists show after the subject; also hidden first in the HTML")
    html: str
    text: str
    headers: dict[str, str] = Field(
        description="the headers a send carries besides the MIME ones: From, To, Subject and, for marketing, "
        "List-Unsubscribe, List-Unsubscribe-Post and List-Id"
    )
    tracking: Tracking = Field(description="what a real send tracks; links here are as written, with no open pixel")


@dataclass(frozen=True)
class Rendered:
    """A preview, and what a test send needs besides."""

    preview: TemplatePreview
    info: TemplateInfo
    customer: dict[str, Any]
    context: dict[str, Any]


class Previewer:
    """Kept for the process (compiled templates are kept by its renderer)."""

    def __init__(self, settings: Settings, catalog: TemplateCatalog | None = None) -> None:
        self.catalog = catalog or TemplateCatalog(settings.templates_dir)
        self.renderer = TemplateRenderer(settings.templates_dir)
        self.footer = MarketingFooter(settings, self.renderer)
        self.from_email = settings.from_email
        self.tracking = Tracker.from_settings(settings).defaults

    def names(self) -> list[str]:
        return self.catalog.names()

    def info(self, name: str) -> TemplateInfo:
        """What the template is; ``UnknownTemplate`` naming the known ones, or ``RenderFailed``
        for a folder whose template.toml is not valid."""
        try:
            return self.catalog.get(name)
        except TemplateError as exc:
            if name in self.catalog.names():
                raise RenderFailed(str(exc)) from exc
            raise UnknownTemplate(f"no template {name!r}; the templates are: {', '.join(self.catalog.names()) or 'none'}") from exc

    def locales(self, name: str) -> list[str]:
        """The template's languages, the default files' first ([] if they cannot be read)."""
        try:
            info, tags = self.info(name), self.renderer.locales(name)
        except (UnknownTemplate, RenderFailed, TemplateError):
            return []
        return [tag or info.locale for tag in tags]

    async def preview(
        self,
        db: Database,
        name: str,
        *,
        customer_id: str | None = None,
        context: dict[str, Any] | None = None,
        locale: str | None = None,
        to: str | None = None,
    ) -> Rendered:
        """The email ``name`` for the customer (or the sample), as a send would render it;
        ``to`` is the address the headers name (the customer's own by default)."""
        info = self.info(name)
        try:
            options = self.renderer.options(name)
            tags = self.renderer.locales(name)
        except TemplateError as exc:
            raise RenderFailed(str(exc)) from exc
        base = sample_context(name, options, locale)
        customer: dict[str, Any] = base.pop("customer")
        if customer_id is not None:
            customer = await self._profile(db, customer_id)
            if locale is not None:
                customer["locale"] = locale
        values = {**base, **(context or {})}
        try:
            email, headers = compose(self.renderer, self.footer, self.from_email, name, info, customer, values)
        except TemplateError as exc:
            raise RenderFailed(str(exc)) from exc
        wanted = customer.get("locale")
        variant = next((tag for tag in fallback_chain(wanted if isinstance(wanted, str) else None) if tag in tags), None)
        address = to if to is not None else customer.get("email")
        opens, clicks = self.tracking.for_template(info)
        preview = TemplatePreview(
            template=name,
            category=info.category,
            topic=info.topic,
            customer_id=str(customer.get("id")),
            sample=customer_id is None,
            locale=variant or info.locale,
            locales=[tag or info.locale for tag in tags],
            subject=email.subject,
            preheader=email.preheader,
            html=email.html,
            text=email.text,
            headers={"From": self.from_email, **({"To": address} if address else {}), "Subject": email.subject, **headers},
            tracking=Tracking(opens=opens, clicks=clicks),
        )
        return Rendered(preview, info, customer, values)

    async def _profile(self, db: Database, customer_id: str) -> dict[str, Any]:
        async with db.session() as session:
            customer = await get_customer(session, customer_id)
            if customer is None:  # an id merged into another customer is that customer
                known = (await resolve(session, [customer_id])).get(customer_id)
                customer = await get_customer(session, known) if known is not None else None
        if customer is None:
            raise UnknownCustomer(f"no customer with id {customer_id!r}")
        return customer.model_dump(mode="json")


def compose(
    renderer: TemplateRenderer,
    footer: MarketingFooter,
    from_email: str,
    name: str,
    info: TemplateInfo,
    customer: dict[str, Any],
    context: dict[str, Any],
    message_id: str | None = None,
) -> tuple[RenderedEmail, dict[str, str]]:
    """The rendered email and its extra headers, as activities/deliver.py ``_compose`` makes
    them (tests/journeys/operations/test_template_preview.py holds the two together):
    marketing gets the unsubscribe link (naming ``message_id``, if any), footer and List-Id."""
    values = {**context, "customer": customer}
    if not info.is_marketing:
        return renderer.render(name, values), {}
    assert info.topic
    link = footer.link(str(customer.get("id")), info.topic, message_id)
    rendered = renderer.render(name, {**values, **footer.context(link)})
    headers = {**link.headers, "List-Id": list_id(info.topic, from_email)}
    # The footer gives back subject, HTML and text; the preheader is the render's.
    return replace(footer.apply(rendered, link, info.topic, name), preheader=rendered.preheader), headers
