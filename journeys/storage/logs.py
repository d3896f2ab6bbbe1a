"""How every Journeys process logs: one format, and no email address in any line.

Erasure promises that nothing naming the person stays; logs are kept elsewhere and for
longer, so they carry customer and message ids, never addresses. Code logs ids; this
filter also masks any address that reaches a line anyway (an ESP's refusal quoting the
recipient, a library's message).
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def mask_addresses(text: str) -> str:
    return _ADDRESS.sub("<address>", text)


class NoAddresses(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_addresses(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_addresses(logging.Formatter().formatException(record.exc_info))
        return True


def configure(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=FORMAT)
    for handler in logging.getLogger().handlers:
        handler.addFilter(NoAddresses())
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    logging.getLogger("temporalio").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: one line per connection
