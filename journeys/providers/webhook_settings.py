"""Webhook secrets are read when the API starts, not on the first request: a malformed
SendGrid key, Resend (Svix) secret or SNS setting stops the API with the setting's name,
instead of answering 500 to every webhook the provider sends."""

from __future__ import annotations

import re

from journeys.providers.resend.webhook import secret_key
from journeys.providers.sendgrid.webhook import load_public_key
from journeys.storage.settings import Settings

_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$")


class InvalidSetting(ValueError):
    """A setting that is present but cannot be used; the message names it."""


def check_webhook_settings(settings: Settings) -> None:
    problems: list[str] = []
    if settings.sendgrid_webhook_public_key:
        try:
            load_public_key(settings.sendgrid_webhook_public_key)
        except ValueError as exc:
            problems.append(f"JOURNEYS_SENDGRID_WEBHOOK_PUBLIC_KEY: {exc}")
    if settings.resend_webhook_secret is not None:
        try:
            if not secret_key(settings.resend_webhook_secret):
                raise ValueError("Resend webhook secret is empty")
        except ValueError as exc:
            problems.append(f"JOURNEYS_RESEND_WEBHOOK_SECRET: {exc}")
    try:
        re.compile(settings.sns_certificate_host_pattern)
    except re.error as exc:
        problems.append(f"JOURNEYS_SNS_CERTIFICATE_HOST_PATTERN: not a regular expression ({exc})")
    schemes = {s.strip() for s in settings.sns_certificate_schemes.split(",") if s.strip()}
    if not schemes or schemes - {"https", "http"}:
        problems.append(f"JOURNEYS_SNS_CERTIFICATE_SCHEMES: {settings.sns_certificate_schemes!r}; expected https (or http, for tests)")
    for arn in (t.strip() for t in settings.ses_sns_topic_arns.split(",") if t.strip()):
        if not _TOPIC_ARN.match(arn):
            problems.append(f"JOURNEYS_SES_SNS_TOPIC_ARNS: {arn!r} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)")
    if bool(settings.postmark_webhook_username) != bool(settings.postmark_webhook_password):
        problems.append("JOURNEYS_POSTMARK_WEBHOOK_USERNAME and JOURNEYS_POSTMARK_WEBHOOK_PASSWORD: set both, or neither")
    if problems:
        raise InvalidSetting("\n".join(problems))
