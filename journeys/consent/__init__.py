"""Consent and the send policy: suppressions, subscriptions, signed unsubscribe links and
the footer and headers every marketing email carries, and the policy the delivery
activity applies to every send (suppression, subscription, quiet hours, caps)."""
