"""Every shipped template, sent exactly as a real send makes it (the delivery activity:
renderer, marketing footer and headers, tracking; the SMTP adapter's MIME and DKIM; caught
by the real mail catcher), scores at most 0.0 with SpamAssassin's local tests.

Scored twice: signed with DKIM, and unsigned (the default, before a key is set up), since
some rules look for a signature and would hide what the headers alone give away. Beside the
shipped templates, the shortest marketing email there can be (``SHORT``): rules for short
messages (LIST_PARTIAL_SHORT_MSG) see the headers there, where a long layout hides them.

Needs the ``spamassassin`` command (Debian's package); skipped without it, unless
JOURNEYS_TEST_REQUIRE_SPAMASSASSIN=1 (CI) makes that a failure.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dkim
import pytest
import pytest_asyncio
from temporalio.testing import ActivityEnvironment

from activities.deliver import DeliveryActivities
from journeys.contracts.activity_io import DeliverInput
from journeys.contracts.customers import CustomerIn
from journeys.customers.profiles import upsert_customer
from journeys.devstack.mail_catcher import MailCatcher
from journeys.providers.smtp.dkim import dns_record_value, generate_private_key, private_key_pem
from journeys.providers.smtp.sender import SmtpSender
from journeys.storage.database import Database
from journeys.storage.migrate import upgrade
from journeys.storage.settings import PROJECT_ROOT, Settings
from tests.conftest import free_port

SPAMASSASSIN = shutil.which("spamassassin")
REQUIRED = os.environ.get("JOURNEYS_TEST_REQUIRE_SPAMASSASSIN") == "1"
TEMPLATES = PROJECT_ROOT / "templates"
SHIPPED = sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
DOMAIN, SELECTOR = "shop.example.com", "s2026"
SEPARATOR = b"From journeys-spam-score@localhost Thu Jan  1 00:00:00 2026"  # each message's mbox line

# Until a template has a [sample] table in its template.toml: what its journey passes.
FALLBACK_CONTEXT: dict[str, dict[str, Any]] = {
    "welcome": {"signup": {"plan": "Pro"}},
    "cart_reminder": {"cart": {"items": [{"name": "Blue ceramic mug", "quantity": 2, "price": "24.00"}], "total": "48.00"}},
}
# A two-line marketing note (no open pixel: an image in so short an HTML part is
# HTML_IMAGE_ONLY_*, a rule about content). Anything it scores, the sending side adds.
SHORT = {
    "template.toml": 'category = "marketing"\ntopic = "offers"\ntrack_opens = false\n',
    "subject.txt": "Our summer hours",
    "body.html": "<!doctype html>\n<html><body><p>Hi {{ customer.attributes.first_name }},</p>\n"
    "<p>From Monday the shop opens at nine and closes at six.</p></body></html>\n",
    "body.txt": "Hi {{ customer.attributes.first_name }},\n\nFrom Monday the shop opens at nine and closes at six.\n",
}


@dataclass
class Score:
    total: float
    rules: dict[str, float]  # every rule hit, with its points


@pytest.fixture
def spamassassin() -> str:
    if SPAMASSASSIN is None:
        message = "spamassassin is not installed (apt-get install spamassassin): the spam score of the templates is not tested"
        if REQUIRED:
            pytest.fail(message + ", and JOURNEYS_TEST_REQUIRE_SPAMASSASSIN=1")
        pytest.skip(message)
    return SPAMASSASSIN


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite:///{tmp_path / 'journeys.db'}"
    upgrade(url)
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()


def sample(templates: Path, template: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(context, customer profile) for a template: its [sample] table, else a fallback."""
    declared = tomllib.loads((templates / template / "template.toml").read_text()).get("sample")
    customer: dict[str, Any] = {"attributes": {"first_name": "Ann"}, "locale": "en-US", "timezone": "America/Chicago"}
    if not isinstance(declared, dict):
        return FALLBACK_CONTEXT.get(template, {}), customer
    given = declared.get("customer")
    if isinstance(given, dict):
        customer |= {k: v for k, v in given.items() if k in ("attributes", "locale", "timezone")}
    context = declared.get("context", {k: v for k, v in declared.items() if k != "customer"})
    return (context if isinstance(context, dict) else {}), customer


def message_id(data: bytes) -> str:
    [ours] = re.findall(rb"^X-Journeys-Message-Id: (\S+)", data, re.M)
    return str(ours.decode())


async def send_all(db: Database, catcher: MailCatcher, key_pem: str, sets: dict[Path, list[str]]) -> dict[tuple[str, bool], bytes]:
    """Each template, sent by the delivery activity with and without DKIM: the raw bytes the
    mail catcher received, by (template, signed)."""
    ids: dict[str, tuple[str, bool]] = {}
    for templates, names in sets.items():
        settings = Settings(
            templates_dir=templates,
            from_email=f"Shop <hello@{DOMAIN}>",
            public_url=f"https://journeys.{DOMAIN}",
            unsubscribe_secret="spam-score-test-secret",
            postal_address="Shop Inc., 100 Main Street, Springfield, IL 62701, USA",
            frequency_cap_24h=0,
            frequency_cap_7d=0,
            smtp_port=catcher.port,
        )
        for signed in (False, True):
            keyed = {"dkim_domain": DOMAIN, "dkim_selector": SELECTOR, "dkim_private_key": key_pem} if signed else {}
            variant = settings.model_copy(update=keyed)
            sender = SmtpSender.from_settings(variant)  # as the worker builds it
            assert (sender.dkim is not None) is signed
            delivery = DeliveryActivities(db, sender, variant)
            try:
                for template in names:
                    ids[await send_one(db, delivery, templates, template, signed)] = (template, signed)
            finally:
                await sender.aclose()
    caught = {ids[message_id(data)]: data for data in (path.read_bytes() for path in catcher.directory.glob("*.eml"))}
    assert sorted(caught) == sorted(ids.values())
    return caught


async def send_one(db: Database, delivery: DeliveryActivities, templates: Path, template: str, signed: bool) -> str:
    context, customer = sample(templates, template)
    customer_id = f"{template}-{'signed' if signed else 'unsigned'}"
    async with db.session() as session:
        await upsert_customer(session, db, customer_id, CustomerIn(email=f"ann.lee+{customer_id}@example.org", **customer))
    step = DeliverInput(
        idempotency_key=f"journey:{template}:{customer_id}/e1/send:{template}", customer_id=customer_id,
        template=template, journey=template, step=f"send:{template}", context=context,
    )
    try:
        result = await ActivityEnvironment().run(delivery.deliver, step)
    except Exception as exc:  # most likely a render failure: say which template, with what
        pytest.fail(f"templates/{template} did not render with the context {context!r}: {exc} (give it a [sample] table)")
    assert result.status == "sent", (template, result.reason)
    return result.message_id


async def score_all(spamassassin: str, messages: dict[str, bytes], home: Path) -> dict[str, Score]:
    """Each message's score, by its X-Journeys-Message-Id: one spamassassin run over an mbox
    of them all (loading the rules takes most of a second; each message a fraction more)."""
    mbox = b"".join(
        SEPARATOR + b"\n" + re.sub(rb"(?m)^(>*From )", rb">\1", data.replace(b"\r\n", b"\n")) + b"\n" for data in messages.values()
    )
    # Local tests only (-L: no DNS, no network). A fresh Bayes database that learns nothing,
    # so every run scores the same and nothing is written to the user's home.
    home.mkdir(exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        spamassassin, "-L", "-t", "-x", "--mbox", "-p", str(home / "user_prefs"),
        "--cf", f"bayes_path {home / 'bayes'}", "--cf", "bayes_auto_learn 0",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(mbox), timeout=300)
    scores: dict[str, Score] = {}
    for report in out.decode(errors="replace").split(SEPARATOR.decode() + "\n")[1:]:
        ours = re.search(r"^X-Journeys-Message-Id: (\S+)", report, re.M)
        status = re.search(r"^X-Spam-Status: \w+, score=(-?\d+(?:\.\d+)?)", report, re.M)
        assert ours and status, f"not a scored message in spamassassin's answer: {report[:2000]}"
        details = report[report.find("Content analysis details") :]
        rules = {name: float(points) for points, name in re.findall(r"^\s*(-?\d+\.\d+)\s+([A-Z][A-Z0-9_]+)\s", details, re.M)}
        scores[ours[1]] = Score(float(status[1]), rules)
    problems = err.decode(errors="replace")[-2000:]
    assert sorted(scores) == sorted(messages), f"spamassassin scored {len(scores)} of {len(messages)}: {problems}"
    return scores


async def test_every_shipped_template_scores_zero_or_less(spamassassin: str, db: Database, tmp_path: Path) -> None:
    short = tmp_path / "templates"
    (short / "short_note").mkdir(parents=True)
    for name, content in SHORT.items():
        (short / "short_note" / name).write_text(content)
    key = generate_private_key(2048)
    with MailCatcher(tmp_path / "mail", port=free_port()) as catcher:
        caught = await send_all(db, catcher, private_key_pem(key).decode(), {TEMPLATES: SHIPPED, short: ["short_note"]})

    record = dns_record_value(key).encode()
    for (template, signed), data in caught.items():
        if signed:  # the signature holds on every real template's bytes
            assert dkim.verify(data, dnsfunc=lambda name, timeout=5: record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None)
        else:
            assert b"DKIM-Signature:" not in data

    by_id = {message_id(data): key for key, data in caught.items()}
    scored = await score_all(spamassassin, {message_id(data): data for data in caught.values()}, tmp_path / "spamassassin")
    scores = dict(sorted((by_id[i], result) for i, result in scored.items()))
    lines = [
        f"  {template:<20} {'DKIM' if signed else 'unsigned':<9} {result.total:5.1f}   "
        + (", ".join(f"{name} {points:+.1f}" for name, points in sorted(result.rules.items())) or "none")
        for (template, signed), result in scores.items()
    ]
    summary = "\n".join(["  template             signature score  rules hit", *lines])
    print("\n" + summary)
    over = [f"{template} ({'DKIM' if signed else 'unsigned'})" for (template, signed), result in scores.items() if result.total > 0.0]
    assert not over, f"scored above 0.0: {', '.join(over)}\n{summary}"
