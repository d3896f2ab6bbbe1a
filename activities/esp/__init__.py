"""Email service provider adapters, one module per provider, behind ``EmailSender``."""

from __future__ import annotations

from core.settings import Settings

from activities.esp.base import EmailSender, OutgoingEmail, PermanentSendError, TransientSendError


def sender_from_settings(settings: Settings) -> EmailSender:
    """The adapter JOURNEYS_ESP names, configured from settings."""
    if settings.esp == "smtp":
        from activities.esp.smtp import SmtpSender

        return SmtpSender.from_settings(settings)
    raise ValueError(f"JOURNEYS_ESP={settings.esp!r} is not a known ESP")


__all__ = ["EmailSender", "OutgoingEmail", "PermanentSendError", "TransientSendError", "sender_from_settings"]
