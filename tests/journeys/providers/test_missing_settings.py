"""Every HTTP adapter's from_settings, when a setting it needs is missing or empty."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from journeys.providers.base import MissingSetting
from journeys.providers.mailgun.sender import MailgunSender
from journeys.providers.postmark.sender import PostmarkSender
from journeys.providers.resend.sender import ResendSender
from journeys.providers.sendgrid.sender import SendGridSender
from journeys.providers.ses.sender import SesSender

SES = {"ses_region": "eu-west-1", "ses_access_key_id": "AKIAIOSFODNN7EXAMPLE", "ses_secret_access_key": "secret"}

# (adapter, the ESP name JOURNEYS_ESP uses for it, the settings given, the setting reported missing)
CASES = [
    (SendGridSender, "sendgrid", {"sendgrid_api_key": None, "sendgrid_base_url": None}, "JOURNEYS_SENDGRID_API_KEY"),
    (SendGridSender, "sendgrid", {"sendgrid_api_key": "", "sendgrid_base_url": None}, "JOURNEYS_SENDGRID_API_KEY"),
    (PostmarkSender, "postmark", {"postmark_base_url": "https://api.postmarkapp.com"}, "JOURNEYS_POSTMARK_SERVER_TOKEN"),
    (MailgunSender, "mailgun", {"mailgun_domain": "mg.example.com"}, "JOURNEYS_MAILGUN_API_KEY"),
    (MailgunSender, "mailgun", {"mailgun_api_key": "k", "mailgun_domain": ""}, "JOURNEYS_MAILGUN_DOMAIN"),
    (ResendSender, "resend", {"resend_api_key": None, "resend_base_url": None}, "JOURNEYS_RESEND_API_KEY"),
    *((SesSender, "ses", {**SES, name: ""}, f"JOURNEYS_{name.upper()}") for name in SES),
]


def case_id(sender_class: type, esp: str, settings: dict[str, Any], missing: str) -> str:
    """e.g. ``sendgrid-JOURNEYS_SENDGRID_API_KEY-empty``: which setting, and how it is missing."""
    setting = missing.removeprefix("JOURNEYS_").lower()
    how = "absent" if setting not in settings else "unset" if settings[setting] is None else "empty"
    return f"{esp}-{missing}-{how}"


@pytest.mark.parametrize(("sender_class", "esp", "settings", "missing"), CASES, ids=[case_id(*case) for case in CASES])
def test_from_settings_without_a_required_setting_names_it(
    sender_class: Any, esp: str, settings: dict[str, Any], missing: str
) -> None:
    with pytest.raises(MissingSetting, match=f"{missing} must be set when JOURNEYS_ESP includes {esp}"):
        sender_class.from_settings(SimpleNamespace(**settings))
