"""All configuration, read once from the environment (prefix ``JOURNEYS_``).

One Settings object for API, worker, CLI and dev stack, in the style of the FastAPI
full-stack template: sane embedded defaults for a laptop, and a production mode that
refuses to start on development secrets.
"""

from __future__ import annotations

import os
import re
import secrets
from email.utils import getaddresses, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Literal

import idna
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from journeys.contracts.journey_io import ENGINE_VERSION
from journeys.contracts.send_rules import TOPIC_PATTERN, QuietHours

# The checkout (or /app in the image): templates/ sits beside the packages.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
KNOWN_ESPS = ("smtp", "sendgrid", "postmark", "mailgun", "ses", "resend")
# A domain or a selector: dot-separated DNS labels (selectors may hold dots too, RFC 6376 3.1).
DNS_NAME = _DNS_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")
DEV_POSTAL_ADDRESS = "Journeys development, 1 Example Street, Springfield (set JOURNEYS_POSTAL_ADDRESS)"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOURNEYS_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    home: Path = Field(default=Path(".journeys"), description="Holds all local state.")

    database_url: str = Field(default="", description="Empty: SQLite file in HOME.")

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "journeys"
    temporal_api_key: str | None = None
    temporal_tls: bool = False

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_key: str | None = Field(default=None, description="Empty: a dev key kept in HOME.")

    # The ESP, or an ordered list for failover ("sendgrid,postmark"): smtp, sendgrid,
    # postmark, mailgun, ses, resend. Each needs its credentials below.
    esp: str = "smtp"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = False  # implicit TLS from the first byte (port 465)
    smtp_timeout_seconds: float = 10.0
    sendgrid_api_key: str | None = None
    sendgrid_base_url: str = "https://api.sendgrid.com"
    postmark_server_token: str | None = None
    postmark_base_url: str = "https://api.postmarkapp.com"
    postmark_message_stream: str = "outbound"
    postmark_broadcast_stream: str = "broadcast"  # Postmark wants marketing on a broadcast stream
    mailgun_api_key: str | None = None
    mailgun_domain: str | None = None
    mailgun_base_url: str = "https://api.mailgun.net"  # EU accounts: https://api.eu.mailgun.net
    ses_region: str | None = None
    ses_access_key_id: str | None = None
    ses_secret_access_key: str | None = None
    ses_session_token: str | None = None
    ses_endpoint: str | None = None  # default https://email.{region}.amazonaws.com
    ses_configuration_set: str | None = None  # needed for SES event publishing (webhooks)
    resend_api_key: str | None = None
    resend_base_url: str = "https://api.resend.com"
    # Failover: failures in a row that open an ESP's circuit, and how long it stays open.
    esp_failure_threshold: int = Field(default=5, ge=1)
    esp_cooldown_seconds: float = Field(default=30.0, gt=0)
    # Sends per second across all workers (Temporal's task-queue rate limit); empty: no limit.
    send_rate_limit: float | None = Field(default=None, gt=0)
    # Sends per second toward one ESP, across all workers (journeys/providers/rate_limit.py).
    smtp_rate_limit: float | None = Field(default=None, gt=0)
    sendgrid_rate_limit: float | None = Field(default=None, gt=0)
    postmark_rate_limit: float | None = Field(default=None, gt=0)
    mailgun_rate_limit: float | None = Field(default=None, gt=0)
    ses_rate_limit: float | None = Field(default=None, gt=0)
    resend_rate_limit: float | None = Field(default=None, gt=0)

    # ESP webhooks (POST /v1/webhooks/{provider}): each provider's verification secret.
    sendgrid_webhook_public_key: str | None = None  # the "Verification Key" of the signed event webhook
    mailgun_webhook_signing_key: str | None = None
    postmark_webhook_username: str | None = None  # basic auth you put in the webhook URL
    postmark_webhook_password: str | None = None
    ses_sns_topic_arns: str = ""  # comma-separated topics whose messages are accepted; empty: any
    # Where SNS signing certificates and subscription confirmations may be fetched from.
    sns_certificate_host_pattern: str = r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"
    sns_certificate_schemes: str = "https"
    resend_webhook_secret: str | None = None  # whsec_...
    from_email: str = "Journeys <journeys@example.com>"

    # ----- DKIM for mail sent over SMTP (journeys/providers/smtp/dkim.py) -----
    # HTTP ESPs sign with the domain set up in their dashboards; what we hand to an SMTP
    # relay we sign ourselves. `journeys dkim keygen` makes a key and prints the DNS record
    # to publish at <selector>._domainkey.<domain>. Domain, selector and one key source go
    # together, or none is set (no signature). The worker reads and checks the key at start.
    dkim_domain: str | None = None  # d=, your From domain (or its parent, for DMARC alignment)
    dkim_selector: str | None = None  # s=
    dkim_private_key: str | None = None  # the PEM text, or:
    dkim_private_key_file: str | None = None  # a file holding it (a mounted secret)

    templates_dir: Path = PROJECT_ROOT / "templates"
    # Where journeys live: comma-separated Python packages, every module in them scanned.
    journey_packages: str = "workflows.journeys"
    # Journeys the worker keeps in memory between events (Temporal's sticky cache); the
    # rest are replayed from history when their next event or timer comes.
    worker_max_cached_workflows: int = 1000
    # Workflow activations run in threads under one GIL: too many at once and each takes
    # seconds of wall time (Temporal flags >2 s as a potential deadlock). Few is faster.
    worker_max_concurrent_workflow_tasks: int = 8
    # Temporal's workflow sandbox re-imports each journey's module per run and checks every
    # call at run time. Journey source is checked when the worker starts (workflows/checks.py),
    # so the worker runs journeys without it by default: 16% less CPU per email and 14% less
    # memory per cached journey, as measured (README, "Benchmarks"). The test kit runs them
    # in the sandbox, so a journey's own tests still catch what the static checks miss.
    workflow_sandbox: bool = False
    # The engine version the API stamps on new journey runs (workflows/versions.py). When
    # upgrading from before engine versions with workers still on the old code, set 0 until
    # every worker runs the new code (a worker of the old code cannot replay a version-1 run).
    engine_version: int = Field(default=ENGINE_VERSION, ge=0, le=ENGINE_VERSION)
    # Dev-only: serve the mail catcher's inbox at /dev/mail.
    dev_mail: bool = False

    # ----- send policy (workflows/engine.py sends, journeys/consent/policy.py decides) -----
    # Where unsubscribe links point: the API's public address (empty: http://API_HOST:API_PORT).
    public_url: str = ""
    # Signs unsubscribe links (HMAC-SHA256). Empty: a dev secret kept in HOME.
    unsubscribe_secret: str | None = None
    # Also offer unsubscribing by mail (List-Unsubscribe mailto), e.g. unsubscribe@example.com.
    unsubscribe_mailto: str | None = None
    # The sender's postal address, shown in every marketing email (CAN-SPAM).
    postal_address: str = DEV_POSTAL_ADDRESS
    # Marketing emails per customer across all journeys; 0 means no cap.
    frequency_cap_24h: int = Field(default=3, ge=0)
    frequency_cap_7d: int = Field(default=10, ge=0)
    # Marketing mail is held in these local hours of the customer, e.g. "21:00-08:00"; empty: never.
    quiet_hours: str = ""
    # Topics a customer must opt in to (comma-separated); every other topic is opt-out.
    opt_in_topics: str = ""

    # ----- open and click tracking (journeys/tracking) -----
    # What a sender of each kind expects: marketing measures opens and clicks; transactional
    # mail (password resets, receipts) carries its links as written. A template's
    # template.toml may say otherwise (track_opens, track_clicks).
    track_opens_marketing: bool = True
    track_clicks_marketing: bool = True
    track_opens_transactional: bool = False
    track_clicks_transactional: bool = False
    # A click this soon after sending is a link scanner (a person has not read it yet).
    tracking_scanner_window_seconds: float = Field(default=10.0, ge=0)
    # Different links of one message clicked within this many seconds: a scanner.
    tracking_burst_seconds: float = Field(default=2.0, ge=0)
    # Behind a proxy that sets X-Forwarded-For: read the client's address from it (the
    # address the proxy appended). Off, the header is the client's to forge and is ignored.
    trust_forwarded_for: bool = False

    # Outbox relay: how often it looks for events Temporal has not taken yet.
    relay_interval_seconds: float = Field(default=1.0, gt=0)
    dispatch_concurrency: int = Field(default=64, ge=1)
    # An event Temporal refuses (too large, not encodable) this many times is a dead letter;
    # while Temporal is merely away, events wait however long it takes.
    dispatch_max_attempts: int = Field(default=5, ge=1)
    # A send that keeps failing with errors worth retrying gives up after this many calls
    # to the ESP, or this long after its first: the message is failed, a dead letter.
    send_max_attempts: int = Field(default=8, ge=1)
    send_max_retry_seconds: float = Field(default=3600.0, gt=0)

    # ----- metrics and logs (journeys/telemetry, README "Metrics and logs") -----
    # "json": one JSON object a line, with the ids of the work (event, workflow, message).
    log_format: Literal["text", "json"] = "text"
    # The worker's Prometheus endpoints (the API serves GET /metrics on its own port):
    # ours, and the Temporal SDK's. 0 turns one off. Loopback unless told otherwise.
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)
    temporal_metrics_port: int = Field(default=9465, ge=0, le=65535)
    metrics_bind: str = "127.0.0.1"

    # ----- analytics (journeys/analytics) -----
    # An A/B variant needs this many entries (and five conversions and non-conversions)
    # before its significance is given; below it: "not enough data yet".
    analytics_min_sample: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _refuse_dev_defaults_in_production(self) -> "Settings":
        if self.environment == "production":
            if not self.api_key:
                raise ValueError("JOURNEYS_API_KEY must be set when JOURNEYS_ENVIRONMENT=production")
            if not self.database_url:
                raise ValueError("JOURNEYS_DATABASE_URL must be set when JOURNEYS_ENVIRONMENT=production")
            if not self.unsubscribe_secret:
                raise ValueError("JOURNEYS_UNSUBSCRIBE_SECRET must be set when JOURNEYS_ENVIRONMENT=production")
            if self.postal_address == DEV_POSTAL_ADDRESS:
                raise ValueError("JOURNEYS_POSTAL_ADDRESS must be set when JOURNEYS_ENVIRONMENT=production")
            if self.dev_mail:
                raise ValueError("JOURNEYS_DEV_MAIL serves caught mail without a key: not when JOURNEYS_ENVIRONMENT=production")
            if not self.public_url:
                raise ValueError("JOURNEYS_PUBLIC_URL (where unsubscribe links point) must be set when JOURNEYS_ENVIRONMENT=production")
            if not self.public_url.startswith("https://") and not _is_local(self.public_url):
                # RFC 8058: mailbox providers only POST one-click unsubscribes to https.
                raise ValueError("JOURNEYS_PUBLIC_URL must be an https:// address when JOURNEYS_ENVIRONMENT=production")
        return self

    @model_validator(mode="after")
    def _dkim_together(self) -> "Settings":
        for name in ("dkim_domain", "dkim_selector", "dkim_private_key", "dkim_private_key_file"):
            value = (getattr(self, name) or "").strip()  # set but empty counts as unset
            setattr(self, name, value or None)
        given = {
            "JOURNEYS_DKIM_DOMAIN": self.dkim_domain,
            "JOURNEYS_DKIM_SELECTOR": self.dkim_selector,
            "JOURNEYS_DKIM_PRIVATE_KEY": self.dkim_private_key,
            "JOURNEYS_DKIM_PRIVATE_KEY_FILE": self.dkim_private_key_file,
        }
        if not any(given.values()):
            return self
        if self.dkim_private_key and self.dkim_private_key_file:
            raise ValueError("JOURNEYS_DKIM_PRIVATE_KEY and JOURNEYS_DKIM_PRIVATE_KEY_FILE: set one of them, not both")
        missing = [name for name in ("JOURNEYS_DKIM_DOMAIN", "JOURNEYS_DKIM_SELECTOR") if not given[name]]
        if not (self.dkim_private_key or self.dkim_private_key_file):
            missing.append("JOURNEYS_DKIM_PRIVATE_KEY or JOURNEYS_DKIM_PRIVATE_KEY_FILE")
        if missing:
            present = ", ".join(name for name, value in given.items() if value)
            raise ValueError(f"DKIM: {present} set, so {' and '.join(missing)} must be too (or none of them)")
        assert self.dkim_domain and self.dkim_selector
        self.dkim_domain = self.dkim_domain.lower().rstrip(".")
        self.dkim_selector = self.dkim_selector.lower()
        for name, value in (("JOURNEYS_DKIM_DOMAIN", self.dkim_domain), ("JOURNEYS_DKIM_SELECTOR", self.dkim_selector)):
            if not _DNS_NAME.match(value):
                raise ValueError(f"{name}={value!r} is not a DNS name (letters, digits and hyphens, dot-separated)")
        return self

    @field_validator("from_email")
    @classmethod
    def _one_from_address(cls, value: str) -> str:
        """``Name <local@domain>`` or ``local@domain``, one address whose domain DNS can
        name (punycode for one outside ASCII): else every send would fail, so refuse to start."""
        value = value.strip()
        example = 'such as "Shop <news@shop.example.com>"'
        if any(ch in value for ch in "\r\n\0") or len(getaddresses([value])) != 1:
            raise ValueError(f"JOURNEYS_FROM_EMAIL={value!r} is not one address {example}")
        name, address = parseaddr(value)
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain or any(ch.isspace() for ch in address) or ("<" in value) != value.endswith(">"):
            raise ValueError(f"JOURNEYS_FROM_EMAIL={value!r} is not an address {example}")
        try:
            ascii_domain = idna.encode(domain, uts46=True).decode("ascii") if not domain.isascii() else domain
        except (idna.IDNAError, UnicodeError):
            ascii_domain = ""
        if not _DNS_NAME.match(ascii_domain.lower().rstrip(".")):
            raise ValueError(f"JOURNEYS_FROM_EMAIL={value!r}: {domain!r} is not a domain name")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours_format(cls, value: str) -> str:
        if value.strip():
            QuietHours.parse(value)  # raises ValueError naming the expected format
        return value.strip()

    @field_validator("esp")
    @classmethod
    def _known_esps(cls, value: str) -> str:
        names = [n.strip().lower() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in KNOWN_ESPS]
        if not names or unknown:
            raise ValueError(f"JOURNEYS_ESP={value!r}: expected one or more of {', '.join(KNOWN_ESPS)}, comma-separated")
        if len(set(names)) != len(names):
            raise ValueError(f"JOURNEYS_ESP={value!r} names an ESP twice")
        return ",".join(names)

    @property
    def esp_names(self) -> list[str]:
        return self.esp.split(",")

    @property
    def esp_rate_limits(self) -> dict[str, float]:
        limits = {name: getattr(self, f"{name}_rate_limit") for name in KNOWN_ESPS}
        return {name: rate for name, rate in limits.items() if rate}

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def resolved_public_url(self) -> str:
        return self.public_url or f"http://{self.api_host}:{self.api_port}"

    @field_validator("opt_in_topics")
    @classmethod
    def _topic_names(cls, value: str) -> str:
        bad = [t.strip() for t in value.split(",") if t.strip() and not TOPIC_PATTERN.match(t.strip())]
        if bad:
            raise ValueError(f"JOURNEYS_OPT_IN_TOPICS: {', '.join(map(repr, bad))} are not topic names (lower case, digits, _ or -)")
        return value

    @property
    def opt_in_topic_set(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.opt_in_topics.split(",") if t.strip())

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'journeys.db').resolve()}"

    @property
    def mail_dir(self) -> Path:
        return self.home / "mail"

    def resolved_api_key(self) -> str:
        """The configured key, else a development key generated once and kept in HOME."""
        return self.api_key or self._dev_secret("api_key", prefix="dev_")

    def resolved_unsubscribe_secret(self) -> str:
        """The configured secret, else a development one kept in HOME (API and worker share it)."""
        return self.unsubscribe_secret or self._dev_secret("unsubscribe_secret")

    def _dev_secret(self, name: str, prefix: str = "") -> str:
        """Made once, by whichever process asks first (the API and the worker may start at
        the same moment): written to a private temporary file, then linked into place,
        which fails if another process got there first, and then theirs is read."""
        key_file = self.home / name
        if key_file.exists():
            return key_file.read_text().strip()
        self.home.mkdir(parents=True, exist_ok=True)
        key = prefix + secrets.token_urlsafe(24)
        draft = self.home / f".{name}.{secrets.token_hex(6)}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # private from the first byte
        try:
            with os.fdopen(descriptor, "w") as out:
                out.write(key + "\n")
            os.link(draft, key_file)
        except FileExistsError:
            return key_file.read_text().strip()
        finally:
            draft.unlink(missing_ok=True)
        return key


def _is_local(url: str) -> bool:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname in {"localhost", "127.0.0.1", "::1"}


@lru_cache
def get_settings() -> Settings:
    return Settings()
