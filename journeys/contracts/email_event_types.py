"""The event types of what happens to an email after it is sent: reported by the ESP's
webhooks, by our own tracking, or by the unsubscribe link. Journeys can wait on them
(``wait_for("email.opened")``)."""

DELIVERED = "email.delivered"
BOUNCED = "email.bounced"
COMPLAINED = "email.complained"
OPENED = "email.opened"
CLICKED = "email.clicked"
UNSUBSCRIBED = "email.unsubscribed"
EVENT_TYPES = frozenset({DELIVERED, BOUNCED, COMPLAINED, OPENED, CLICKED, UNSUBSCRIBED})
