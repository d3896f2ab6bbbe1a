"""Who may see the dashboard: whoever holds the API key, proven once at the login form.

The login sets a session cookie ``v1.<expiry>.<session id>.<mac>``: an expiry (unix
seconds, 12 hours on), a random session id and an HMAC-SHA256 over both. The MAC key is
derived from the API key, never the key itself, so the cookie holds nothing that opens
the JSON API, and changing the API key ends every session. Nothing is kept on the
server: any API process can check any cookie.

Forms that change something (retry, discard, log out) carry a CSRF token: an HMAC of
the session id under the same key. A page of another site can neither read the cookie
(HttpOnly) nor compute the token, and with ``SameSite=Lax`` the browser does not even
send the cookie with its cross-site POST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import unquote

from starlette.responses import Response

COOKIE = "journeys_dashboard"
PATH = "/dashboard"
LIFETIME_SECONDS = 12 * 60 * 60
CSRF_FIELD = "csrf"
_LABEL = b"journeys dashboard session v1"
_COOKIE_SHAPE = re.compile(r"v1\.([0-9]{1,12})\.([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{43})")
# Where a login may send the browser on: a dashboard page of this site, nothing else.
_NEXT_SHAPE = re.compile(r"/dashboard(?:[/?][^\\\x00-\x20\x7f]*)?")
_NOT_NEXT = {f"{PATH}/login", f"{PATH}/logout"}


@dataclass(frozen=True)
class Session:
    id: str
    expires: int
    csrf: str  # the token this session's forms carry


def key_matches(api_key: str, given: str) -> bool:
    """Constant-time: how much of a guess was right must not show in the answer's timing."""
    return bool(api_key) and secrets.compare_digest(given.encode("utf-8", "replace"), api_key.encode())


def new_cookie(api_key: str, now: float | None = None) -> str:
    expires = int(time.time() if now is None else now) + LIFETIME_SECONDS
    payload = f"v1.{expires}.{secrets.token_urlsafe(24)}"
    return f"{payload}.{_mac(api_key, 'session', payload)}"


def read_cookie(api_key: str, value: str | None, now: float | None = None) -> Session | None:
    """The session the cookie proves, or None (absent, altered, signed under another key,
    or expired)."""
    shape = _COOKIE_SHAPE.fullmatch(value or "")
    if shape is None or not api_key:
        return None
    expires, session_id, mac = shape.groups()
    if not hmac.compare_digest(mac.encode(), _mac(api_key, "session", f"v1.{expires}.{session_id}").encode()):
        return None
    if int(expires) <= (time.time() if now is None else now):
        return None
    return Session(session_id, int(expires), _mac(api_key, "csrf", session_id))


def csrf_ok(session: Session, form: dict[str, str]) -> bool:
    return secrets.compare_digest(form.get(CSRF_FIELD, "").encode("utf-8", "replace"), session.csrf.encode())


def set_cookie(response: Response, value: str, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE, value, max_age=LIFETIME_SECONDS, path=PATH, httponly=True, samesite="lax", secure=secure
    )


def clear_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="lax", secure=secure)


def safe_next(target: str | None) -> str:
    """A page to go on to after logging in: only a dashboard path (no open redirect: not
    another host, not ``//host`` or ``/\\host``, no dot segment climbing out of /dashboard),
    and not the login or logout again (a logged-in login page sends the browser on, and a
    ``next`` naming the login page would bounce it through the login again and again)."""
    if not target or not _NEXT_SHAPE.fullmatch(target):
        return PATH
    path = unquote(target.split("?", 1)[0])
    if any(s in (".", "..") for s in path.split("/")) or path.rstrip("/") in _NOT_NEXT:
        return PATH
    return target


def _mac(api_key: str, purpose: str, text: str) -> str:
    # One derived key, and a purpose in every message: a session MAC is never a CSRF token.
    key = hmac.new(api_key.encode(), _LABEL, hashlib.sha256).digest()
    digest = hmac.new(key, f"{purpose}:{text}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
