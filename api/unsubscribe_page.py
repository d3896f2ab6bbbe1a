"""The HTML of the unsubscribe pages: plain forms, no JavaScript, every value escaped."""

from __future__ import annotations

from html import escape

from journeys.consent.subscriptions import Subscriptions

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222;line-height:1.5}"
    "button{font:inherit;padding:.5rem 1rem;margin-top:.5rem}label{display:block;margin:.25rem 0}"
    "fieldset{border:1px solid #ddd;margin:1.5rem 0;padding:1rem}.note{color:#666}"
)


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def preferences_page(token: str, topic: str, subs: Subscriptions, saved: bool = False) -> str:
    action = f"/u/{escape(token)}"
    subscribed_here = subs.all_marketing and subs.topics.get(topic, True)
    if subscribed_here:
        confirm = (
            f"<p>Unsubscribe from <strong>{escape(topic)}</strong> emails?</p>"
            f'<form method="post" action="{action}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            "<button type=\"submit\">Unsubscribe</button></form>"
        )
    else:
        confirm = f"<p>You are unsubscribed from <strong>{escape(topic)}</strong> emails.</p>"
    boxes = "".join(
        f'<input type="hidden" name="shown" value="{escape(name)}">'
        f'<label><input type="checkbox" name="topic" value="{escape(name)}"{" checked" if on else ""}> {escape(name)}</label>'
        for name, on in subs.topics.items()
    )
    none_box = (
        '<label><input type="checkbox" name="no_marketing" value="1"'
        f'{"" if subs.all_marketing else " checked"}> No marketing email at all</label>'
    )
    notice = '<p class="note">Your preferences are saved.</p>' if saved else ""
    body = (
        f"{notice}{confirm}"
        f'<form method="post" action="{action}/preferences"><fieldset><legend>Emails you get</legend>'
        f"{boxes}{none_box}</fieldset><button type=\"submit\">Save preferences</button></form>"
        '<p class="note">Emails about your account (receipts, password resets) are not affected.</p>'
    )
    return _document("Email preferences", body)


def done_page(message: str, token: str | None = None) -> str:
    more = f'<p><a href="/u/{escape(token)}">Choose which emails you get</a></p>' if token else ""
    return _document("Unsubscribed", f"<p>{escape(message)}</p>{more}")


def error_page(message: str = "This unsubscribe link is not valid.") -> str:
    return _document(
        "Link not valid",
        f"<p>{escape(message)}</p><p>Use the unsubscribe link in the most recent email you received from us.</p>",
    )
