"""What every marketing email carries, whatever its template says: RFC 8058 one-click
unsubscribe headers, and a footer with a visible unsubscribe link and the sender's postal
address (CAN-SPAM; Gmail, Yahoo and Microsoft's bulk-sender rules).

The footer is built in, or ``templates/_footer/body.html`` and ``body.txt`` when a project
wants its own; either way it must show the link and the address, or the send fails.
"""

from __future__ import annotations

import dataclasses

import html
import re
from dataclasses import dataclass
from urllib.parse import quote

from journeys.templating.renderer import RenderedEmail, TemplateRenderer
from journeys.storage.settings import Settings
from journeys.templating.catalog import TemplateError
from journeys.consent.unsubscribe_tokens import make_token

FOOTER_DIR = "_footer"
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class UnsubscribeLink:
    url: str  # one-click POST target and, opened in a browser, the preferences page
    headers: dict[str, str]


class MarketingFooter:
    def __init__(self, settings: Settings, renderer: TemplateRenderer) -> None:
        self.public_url = settings.resolved_public_url
        self.secret = settings.resolved_unsubscribe_secret()
        self.mailto = settings.unsubscribe_mailto
        self.postal_address = settings.postal_address
        self.renderer = renderer

    def link(self, customer_id: str, topic: str, message_id: str | None = None) -> UnsubscribeLink:
        token = make_token(self.secret, customer_id, topic, message_id)
        url = f"{self.public_url}/u/{token}"
        targets = [f"<{url}>"]
        if self.mailto:
            targets.append(f"<mailto:{self.mailto}?subject={quote('unsubscribe ' + token)}>")
        return UnsubscribeLink(
            url=url,
            headers={
                "List-Unsubscribe": ", ".join(targets),
                # RFC 8058: the mailbox provider POSTs this body to the https URL above.
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )

    def context(self, link: UnsubscribeLink) -> dict[str, str]:
        """What templates may use themselves: ``{{ unsubscribe_url }}``, ``{{ postal_address }}``."""
        return {"unsubscribe_url": link.url, "postal_address": self.postal_address}

    def apply(self, email: RenderedEmail, link: UnsubscribeLink, topic: str, template: str) -> RenderedEmail:
        context = {**self.context(link), "topic": topic}
        custom_html = self.renderer.render_part(f"{FOOTER_DIR}/body.html", context)
        custom_text = self.renderer.render_part(f"{FOOTER_DIR}/body.txt", context)
        footer_html = custom_html if custom_html is not None else self._html(link.url, topic)
        footer_text = custom_text if custom_text is not None else self._text(link.url, topic)
        for part, rendered in (("body.html", footer_html), ("body.txt", footer_text)):
            # Tokens hold no character HTML escapes, so the URL reads the same in both parts.
            shows_address = self.postal_address in rendered or html.escape(self.postal_address) in rendered
            if link.url not in rendered or not shows_address:
                raise TemplateError(
                    f"templates/{FOOTER_DIR}/{part} must show {{{{ unsubscribe_url }}}} and {{{{ postal_address }}}} "
                    f"(marketing template {template!r})"
                )
        # replace(), not a new RenderedEmail: the preheader and whatever else rendering gave stay.
        return dataclasses.replace(email, html=_before_body_end(email.html, footer_html), text=email.text + "\n" + footer_text)

    def _html(self, url: str, topic: str) -> str:
        return (
            '<div style="margin-top:32px;padding-top:12px;border-top:1px solid #ddd;'
            'font-size:12px;line-height:1.5;color:#666">'
            f"<p>You receive these emails about {html.escape(topic)}. "
            f'<a href="{html.escape(url)}">Unsubscribe or manage your email preferences</a>.</p>'
            f"<p>{html.escape(self.postal_address)}</p></div>"
        )

    def _text(self, url: str, topic: str) -> str:
        return f"--\nYou receive these emails about {topic}.\nUnsubscribe or manage your preferences: {url}\n{self.postal_address}\n"


def _before_body_end(document: str, footer: str) -> str:
    ends = list(_BODY_END.finditer(document))
    if not ends:
        return document + footer
    at = ends[-1].start()
    return document[:at] + footer + "\n" + document[at:]
