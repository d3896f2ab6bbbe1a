"""Mailgun: the sender and the webhook verifier, side by side."""
