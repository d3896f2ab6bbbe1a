"""Who made a tracking hit: the client's address, and that address as logs may show it."""

from __future__ import annotations

import ipaddress


def client_address(peer: str | None, forwarded_for: str | None, trust_forwarded_for: bool) -> str | None:
    """The client's IP address: the TCP peer, or, behind a proxy we trust, the address that
    proxy appended to ``X-Forwarded-For`` (the last entry; earlier entries are whatever
    the client wrote, and not evidence of anything)."""
    if trust_forwarded_for and forwarded_for:
        last = forwarded_for.split(",")[-1].strip()
        if _is_ip(last):
            return last
    return peer


def masked(address: str | None) -> str:
    """The address with its host part cut (IPv4 /24, IPv6 /48): enough to read a log, not
    to name a person. Full addresses are personal data and only logged at DEBUG."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
