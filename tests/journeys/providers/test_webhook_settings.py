"""A malformed webhook secret stops the API at start, naming the setting, instead of a 500
on every webhook the provider sends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from journeys.providers.webhook_settings import InvalidSetting, check_webhook_settings
from journeys.storage.settings import Settings


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("sendgrid_webhook_public_key", "not-a-key", "JOURNEYS_SENDGRID_WEBHOOK_PUBLIC_KEY: SendGrid verification key is not a public key"),
        ("sendgrid_webhook_public_key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "JOURNEYS_SENDGRID_WEBHOOK_PUBLIC_KEY"),
        ("resend_webhook_secret", "whsec_***not base64***", "JOURNEYS_RESEND_WEBHOOK_SECRET: Resend webhook secret must be 'whsec_' followed by base64"),
        ("resend_webhook_secret", "whsec_", "JOURNEYS_RESEND_WEBHOOK_SECRET: Resend webhook secret is empty"),
        ("sns_certificate_host_pattern", "^sns.(", "JOURNEYS_SNS_CERTIFICATE_HOST_PATTERN: not a regular expression"),
        ("sns_certificate_schemes", "ftp", "JOURNEYS_SNS_CERTIFICATE_SCHEMES"),
        ("ses_sns_topic_arns", "my-topic", "JOURNEYS_SES_SNS_TOPIC_ARNS: 'my-topic' is not an SNS topic ARN"),
        ("postmark_webhook_username", "hooks", "JOURNEYS_POSTMARK_WEBHOOK_PASSWORD: set both, or neither"),
    ],
)
def test_a_setting_that_cannot_be_used_is_refused_by_name(setting: str, value: str, named: str) -> None:
    with pytest.raises(InvalidSetting) as raised:
        check_webhook_settings(Settings(**{setting: value}))  # type: ignore[arg-type]
    assert named in str(raised.value)


def test_good_settings_pass() -> None:
    check_webhook_settings(Settings(
        resend_webhook_secret="whsec_c2VjcmV0",
        ses_sns_topic_arns="arn:aws:sns:eu-west-1:123456789012:ses-events, arn:aws:sns:us-east-1:123456789012:other",
        postmark_webhook_username="u", postmark_webhook_password="p",
    ))


def test_the_api_refuses_to_start_with_a_malformed_secret(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "journeys"
    result = subprocess.run(
        [str(command), "api", "--port", "9"],
        env={"PATH": os.environ["PATH"], "JOURNEYS_HOME": str(tmp_path), "JOURNEYS_RESEND_WEBHOOK_SECRET": "whsec_%%%"},
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "refusing to start, a setting is invalid" in result.stderr and "JOURNEYS_RESEND_WEBHOOK_SECRET" in result.stderr
