"""``List-Id`` (RFC 2919) for marketing mail: ``"Shop offers" <offers.shop.example.com>``.

One list per marketing topic, named on the sender's domain: mailbox providers group and
rate bulk mail by it, readers filter by it, and a message with ``List-Unsubscribe`` but no
``List-Id`` looks like a list that hides what it is (SpamAssassin's LIST_PARTIAL_SHORT_MSG).
It goes with the other headers every ESP carries (``OutgoingEmail.headers``), so it is the
same whichever ESP sends.
"""

from __future__ import annotations

import re
from email.utils import formataddr, parseaddr

import idna

# RFC 2919: the label is a dot-atom; topics are already lower case, digits, _ and -.
_NOT_LABEL = re.compile(r"[^a-z0-9_-]")


def list_id(topic: str, from_email: str) -> str:
    name, address = parseaddr(from_email)
    domain = address.rpartition("@")[2].lower().rstrip(".")
    try:
        # IDNA 2008 with UTS 46, as the From and To headers are written (smtp/message.py):
        # Python's "idna" codec is IDNA 2003, which maps "ß" to "ss", another domain.
        domain = idna.encode(domain, uts46=True, transitional=False).decode("ascii") if domain else ""
    except (idna.IDNAError, UnicodeError):
        domain = ""
    label = _NOT_LABEL.sub("-", topic.lower()) or "news"
    list_address = f"{label}.{domain or 'journeys.local'}"
    phrase = f"{name} {topic}" if name else topic
    # formataddr quotes the phrase where needed and RFC 2047-encodes it outside ASCII.
    return formataddr((phrase, list_address), charset="utf-8")
