"""SMTP: the sender (any SMTP relay; hard bounces come back as refusals to RCPT TO)."""
