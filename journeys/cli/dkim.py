"""``journeys dkim keygen``: a DKIM key for mail sent over SMTP, and the DNS record to publish.

The private key goes to a file only its owner can read (never to the terminal, where it
would stay in scrollback and logs); the public half is printed as a zone-file line.
"""

from __future__ import annotations

import argparse
import os
import sys
from email.utils import parseaddr
from pathlib import Path

from journeys.providers.smtp.dkim import DkimKeyError, dns_record, generate_private_key, private_key_pem
from journeys.providers.smtp.message import ascii_domain
from journeys.storage.settings import DNS_NAME, get_settings


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("dkim", help="DKIM signing of SMTP mail: make a key", description="DKIM keys for mail sent over SMTP.")
    actions = parser.add_subparsers(dest="dkim_command", metavar="ACTION", required=True)
    keygen = actions.add_parser(
        "keygen",
        help="write a new private key and print the DNS TXT record to publish",
        description="Write an RSA private key (PEM, mode 0600) and print the TXT record to publish at "
        "<selector>._domainkey.<domain>. Then set JOURNEYS_DKIM_DOMAIN, JOURNEYS_DKIM_SELECTOR and "
        "JOURNEYS_DKIM_PRIVATE_KEY_FILE (or the PEM itself in JOURNEYS_DKIM_PRIVATE_KEY) for the worker.",
    )
    keygen.add_argument("--selector", help="s= (default: JOURNEYS_DKIM_SELECTOR, else journeys)")
    keygen.add_argument("--domain", help="d= (default: JOURNEYS_DKIM_DOMAIN, else the JOURNEYS_FROM_EMAIL domain)")
    keygen.add_argument("--bits", type=int, default=2048, help="RSA key size, 1024 to 4096 (default 2048)")
    keygen.add_argument("--out", type=Path, help="where to write the key (default: ./dkim-<selector>-<domain>.pem); never overwritten")
    keygen.set_defaults(func=run_keygen)


def run_keygen(args: argparse.Namespace) -> int:
    configured = _configured()
    selector = (args.selector or configured.get("dkim_selector") or "journeys").lower()
    domain = args.domain or configured.get("dkim_domain") or parseaddr(configured.get("from_email") or "")[1].rpartition("@")[2]
    domain = domain.lower().rstrip(".")
    if not domain:
        print("journeys dkim keygen: no domain: pass --domain", file=sys.stderr)
        return 2
    try:
        domain = ascii_domain(domain)  # d= and the record's name are punycode (bücher.example: xn--bcher-kva.example)
    except ValueError:
        pass  # refused just below, as any name that is not one
    # What the worker's settings accept (JOURNEYS_DKIM_DOMAIN, JOURNEYS_DKIM_SELECTOR): a key
    # made for a name it refuses, or a record line a typo broke, helps no one.
    for option, value in (("--selector", selector), ("--domain", domain)):
        if not DNS_NAME.match(value):
            print(f"journeys dkim keygen: {option} {value!r} is not a DNS name (letters, digits and hyphens, dot-separated)",
                  file=sys.stderr)
            return 2
    out: Path = args.out or Path(f"dkim-{selector}-{domain}.pem")
    try:
        key = generate_private_key(args.bits)
    except DkimKeyError as exc:
        print(f"journeys dkim keygen: {exc}", file=sys.stderr)
        return 2
    try:
        # O_EXCL: a key already published must not be replaced by accident; 0600 from the first byte.
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"journeys dkim keygen: {out} exists; not overwritten (choose --out, or move it away)", file=sys.stderr)
        return 1
    except OSError as exc:  # no such folder, not allowed to write there
        print(f"journeys dkim keygen: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    with os.fdopen(descriptor, "wb") as file:
        file.write(private_key_pem(key))
    print(f"# private key written to {out} (mode 0600). Publish this TXT record:")
    print(dns_record(key, selector=selector, domain=domain))
    print("# then give the worker:")
    print(f"#   JOURNEYS_DKIM_DOMAIN={domain}")
    print(f"#   JOURNEYS_DKIM_SELECTOR={selector}")
    print(f"#   JOURNEYS_DKIM_PRIVATE_KEY_FILE={out.resolve()}")
    return 0


def _configured() -> dict[str, str | None]:
    """The DKIM and From settings as configured. Half-set DKIM settings (a domain and a
    selector, no key yet) are the usual state before this command runs: settings refuse
    them, so then the environment is read as it is."""
    from pydantic import ValidationError

    try:
        settings = get_settings()
    except ValidationError:
        return {name: os.environ.get(f"JOURNEYS_{name.upper()}") for name in ("dkim_selector", "dkim_domain", "from_email")}
    return {"dkim_selector": settings.dkim_selector, "dkim_domain": settings.dkim_domain, "from_email": settings.from_email}
