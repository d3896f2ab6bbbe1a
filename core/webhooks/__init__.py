"""Verification and normalisation of email-provider webhooks (SendGrid, Mailgun, Postmark, SES, Resend).

Pure functions: raw body bytes and headers in, `EmailEvent`s out, `WebhookRejected` when the
request is not authentic, fresh and well formed. One module per provider; see `common` for the
shared event shape.
"""

from core.webhooks.common import EmailEvent, WebhookRejected

__all__ = ["EmailEvent", "WebhookRejected"]
