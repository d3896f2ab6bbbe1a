"""Email service providers: one package per ESP with its sender and its webhook verifier
side by side, behind ``EmailSender``; failover, rate limits and the shared error types.

``JOURNEYS_ESP`` names one ESP, or an ordered list for failover (journeys/providers/failover.py).
Each adapter reads its own settings and raises ``MissingSetting`` naming what is missing,
so the worker refuses to start instead of failing sends later.
"""

from __future__ import annotations

from journeys.storage.settings import Settings

from journeys.providers.base import EmailSender, MissingSetting, OutgoingEmail, PermanentSendError, TransientSendError


def _one(name: str, settings: Settings) -> EmailSender:
    if name == "smtp":
        from journeys.providers.smtp.sender import SmtpSender

        return SmtpSender.from_settings(settings)
    if name == "sendgrid":
        from journeys.providers.sendgrid.sender import SendGridSender

        return SendGridSender.from_settings(settings)
    if name == "postmark":
        from journeys.providers.postmark.sender import PostmarkSender

        return PostmarkSender.from_settings(settings)
    if name == "mailgun":
        from journeys.providers.mailgun.sender import MailgunSender

        return MailgunSender.from_settings(settings)
    if name == "ses":
        from journeys.providers.ses.sender import SesSender

        return SesSender.from_settings(settings)
    if name == "resend":
        from journeys.providers.resend.sender import ResendSender

        return ResendSender.from_settings(settings)
    raise MissingSetting(f"JOURNEYS_ESP names {name!r}, which is not a known ESP")


def sender_from_settings(settings: Settings) -> EmailSender:
    """The adapter JOURNEYS_ESP names (a failover chain if it names several)."""
    senders = [_one(name, settings) for name in settings.esp_names]
    if len(senders) == 1:
        return senders[0]
    from journeys.providers.failover import FailoverSender

    return FailoverSender(senders, failure_threshold=settings.esp_failure_threshold, cooldown=settings.esp_cooldown_seconds)


__all__ = [
    "EmailSender",
    "MissingSetting",
    "OutgoingEmail",
    "PermanentSendError",
    "TransientSendError",
    "sender_from_settings",
]
