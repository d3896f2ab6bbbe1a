"""No email address in any log line: code logs ids, and a filter masks what slips through."""

from __future__ import annotations

import subprocess
import sys

from journeys.storage.logs import mask_addresses


def test_addresses_are_masked_and_ids_are_kept() -> None:
    line = "refused by smtp: 550 5.1.1 <ann.o'neil+tag@mail.example.co.uk>: no such user (customer c-42)"
    assert mask_addresses(line) == "refused by smtp: 550 5.1.1 <<address>>: no such user (customer c-42)"
    assert mask_addresses("journey:welcome:c@1 has no dot after the at") == "journey:welcome:c@1 has no dot after the at"


def test_every_process_logs_through_the_mask() -> None:
    script = (
        "import logging; from journeys.storage import logs; logs.configure();"
        "log = logging.getLogger('journeys.deliver');"
        "log.info('sent welcome to %s', 'ann@example.com');"
        "\ntry:\n    raise ValueError('bounce for bob@example.com')\nexcept ValueError:\n    log.exception('failed')"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert "sent welcome to <address>" in result.stderr and "bounce for <address>" in result.stderr
    assert "@example.com" not in result.stderr


async def test_a_send_logs_the_customer_and_message_ids_not_the_address(db: object, caplog: object) -> None:
    import logging

    import pytest

    from tests.activities.test_deliver import add_customer, delivery, step
    from journeys.devstack.mail_catcher import MailCatcher
    from tests.conftest import free_port
    from temporalio.testing import ActivityEnvironment

    assert isinstance(caplog, pytest.LogCaptureFixture)
    caplog.set_level(logging.INFO)
    await add_customer(db, email="ann@example.com")  # type: ignore[arg-type]
    import tempfile
    from pathlib import Path

    with MailCatcher(Path(tempfile.mkdtemp()) / "mail", port=free_port()) as catcher:
        result = await ActivityEnvironment().run(delivery(db, catcher.port).deliver, step())  # type: ignore[arg-type]
    assert result.status == "sent"
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("journeys."))
    assert "customer c1" in ours and result.message_id in ours
    assert "ann@example.com" not in ours  # (aiosmtpd, the dev mail catcher, is at WARNING in every process)
