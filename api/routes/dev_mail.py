"""GET /dev/mail: the local mail catcher's inbox (development only, no auth)."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse

from api.answers import answers
from api.deps import SettingsDep
from journeys.devstack.mail_catcher import read_mailbox

router = APIRouter(tags=["development"], include_in_schema=True)


@router.get("/dev/mail.json", summary="Caught mail as JSON, oldest first")
async def mail_json(settings: SettingsDep) -> list[dict[str, str]]:
    return [
        {"name": m.name, "received_at": m.received_at.isoformat(), "to": m.to, "from": m.from_, "subject": m.subject, "text": m.text}
        for m in read_mailbox(settings.mail_dir)
    ]


@router.get("/dev/mail", response_class=HTMLResponse, summary="Caught mail, newest first")
async def mail_index(settings: SettingsDep) -> str:
    mails = list(reversed(read_mailbox(settings.mail_dir)))
    rows = "".join(
        f"<tr><td>{escape(m.received_at.strftime('%Y-%m-%d %H:%M:%S'))}</td><td>{escape(m.to)}</td>"
        f"<td><a href='/dev/mail/{escape(m.name)}'>{escape(m.subject)}</a></td></tr>"
        for m in mails
    )
    return _page(
        f"Mail catcher ({len(mails)})",
        f"<p>Every email sent through SMTP to the catcher, saved under <code>{escape(str(settings.mail_dir))}</code>.</p>"
        f"<table><tr><th>Received (UTC)</th><th>To</th><th>Subject</th></tr>{rows}</table>",
    )


@router.get("/dev/mail/{name}", response_class=HTMLResponse, summary="One caught message", responses=answers(404))
async def mail_message(name: str, settings: SettingsDep) -> str:
    mail = next((m for m in read_mailbox(settings.mail_dir) if m.name == name), None)
    if mail is None:
        raise HTTPException(404, detail=f"no caught mail named {name!r}")
    # The HTML part is shown sandboxed: a template's HTML cannot script this page.
    return _page(
        escape(mail.subject),
        f"<p><a href='/dev/mail'>&larr; all mail</a></p>"
        f"<p><b>From:</b> {escape(mail.from_)}<br><b>To:</b> {escape(mail.to)}</p>"
        f"<iframe sandbox srcdoc=\"{escape(mail.html, quote=True)}\" style='width:100%;height:24em;border:1px solid #ccc'></iframe>"
        f"<h3>Text part</h3><pre>{escape(mail.text)}</pre>",
    )


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}"
        "td,th{padding:.3em .8em;text-align:left;border-bottom:1px solid #eee}</style></head>"
        f"<body><h1>{title}</h1>{body}</body></html>"
    )
