"""A preview is what the delivery activity sends (activities/deliver.py): the same subject,
HTML, text and headers for the same customer, every shipped template; only tracking (off
here, as a preview never has it) and the unsubscribe token's message id differ."""

from __future__ import annotations

import re

import pytest
from temporalio.testing import ActivityEnvironment

from activities.deliver import DeliveryActivities
from journeys.contracts.activity_io import DeliverInput
from journeys.contracts.customers import CustomerIn
from journeys.customers.profiles import upsert_customer
from journeys.operations.template_preview import Previewer
from journeys.providers.base import OutgoingEmail
from journeys.storage.database import Database
from journeys.storage.settings import Settings

UNSUBSCRIBE = re.compile(r"/u/u1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Tracking off, so what delivery sends is the render itself; no caps or quiet hours.
SETTINGS = dict(
    track_opens_marketing=False, track_clicks_marketing=False, frequency_cap_24h=0, frequency_cap_7d=0,
    unsubscribe_secret="preview-test-secret",
)


class Capture:
    name = "capture"

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []

    async def send(self, email: OutgoingEmail) -> str:
        self.sent.append(email)
        return f"capture-{len(self.sent)}"

    async def aclose(self) -> None:
        pass


def without_tokens(text: str) -> str:
    return UNSUBSCRIBE.sub("/u/<token>", text)


@pytest.mark.parametrize("locale", [None, "fr"])
async def test_a_preview_is_what_delivery_sends(db: Database, locale: str | None) -> None:
    settings = Settings(**SETTINGS)  # type: ignore[arg-type]
    capture = Capture()
    delivery = DeliveryActivities(db, capture, settings)
    previews = Previewer(settings)
    async with db.session() as session:
        await upsert_customer(session, db, "dee", CustomerIn(email="dee@example.com", locale=locale, timezone="Europe/Paris",
                                                             attributes={"first_name": "Dee"}))
    for name in previews.names():
        context = previews.renderer.options(name).sample.get("context", {})
        step = DeliverInput(idempotency_key=f"j/dee/{name}", customer_id="dee", template=name, journey="j", step=name, context=context)
        assert (await ActivityEnvironment().run(delivery.deliver, step)).status == "sent", name
        sent = capture.sent[-1]
        shown = (await previews.preview(db, name, customer_id="dee")).preview
        assert (shown.subject, without_tokens(shown.html), without_tokens(shown.text)) == (
            sent.subject, without_tokens(sent.html), without_tokens(sent.text)
        ), name
        assert {k: without_tokens(v) for k, v in shown.headers.items()} == {
            "From": sent.from_, "To": sent.to, "Subject": sent.subject, **{k: without_tokens(v) for k, v in sent.headers.items()}
        }, name
        assert shown.headers.keys() >= ({"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"} if shown.topic else set())
