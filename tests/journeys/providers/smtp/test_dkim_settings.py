"""JOURNEYS_DKIM_*: all together or none, and a key that cannot sign stops the worker at
start, naming the setting, instead of failing every send."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from journeys.providers.smtp.dkim import generate_private_key, private_key_pem
from journeys.providers.smtp.sender import SmtpSender
from journeys.providers.webhook_settings import InvalidSetting
from journeys.storage.settings import Settings

# Too short to trust (RFC 8301); cryptography will not make one, so here is one openssl made.
WEAK_512 = """-----BEGIN RSA PRIVATE KEY-----
MIIBOwIBAAJBAL/UcgnLJ3s517L6vw3PX+3P4U2fTuKP+6nDO0DDeXmiSih7cnsn
aoZhXLvktZZSA8eIpKJ5FlY3kcXDJFb1KhcCAwEAAQJARS5FrjiA1ZTnsFlzm3Rl
QSuOMmM4nMaWWQPak6GrZmy7eYItUjLJMkf1W7t5i8owEfQYWwU78gRyzy1MZAJw
YQIhAPBipLbw9tkaS0bxHJIKLFp0cg4t2KD+6AFggVlQZwOxAiEAzEpgIXLFZeEY
nNzqVJ8jLru6gbZS2g85Pg8wiFKSZEcCIQCzYGiZOuZ4yu4xWep/76d5ODuD6SIl
wRFPNbxP8XdtgQIgCYkTMZx80EOQdYnuOiLvbnf+vZ04AsuhHV9yIXrRMHMCIQDO
vYwlMzDrDU+PTtjSLuXc2S69yHQt1LaVf4NaM0FWMg==
-----END RSA PRIVATE KEY-----
"""
DOMAIN: dict[str, Any] = {"dkim_domain": "Shop.Example.com.", "dkim_selector": "S2026"}


@pytest.fixture(scope="module")
def pem() -> str:
    return private_key_pem(generate_private_key(1024)).decode()


def test_none_set_means_no_signature() -> None:
    assert SmtpSender.from_settings(Settings()).dkim is None
    # Set but empty, as a compose file's JOURNEYS_DKIM_PRIVATE_KEY_FILE= leaves it: unset.
    empty = Settings(dkim_domain="", dkim_selector=" ", dkim_private_key="", dkim_private_key_file="")
    assert empty.dkim_private_key_file is None and SmtpSender.from_settings(empty).dkim is None


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"dkim_domain": "shop.example.com"}, "JOURNEYS_DKIM_SELECTOR and JOURNEYS_DKIM_PRIVATE_KEY or JOURNEYS_DKIM_PRIVATE_KEY_FILE"),
        ({**DOMAIN}, "JOURNEYS_DKIM_PRIVATE_KEY or JOURNEYS_DKIM_PRIVATE_KEY_FILE must be too"),
        ({"dkim_private_key_file": "/run/secrets/dkim.pem"}, "JOURNEYS_DKIM_DOMAIN and JOURNEYS_DKIM_SELECTOR must be too"),
        ({**DOMAIN, "dkim_private_key": "x", "dkim_private_key_file": "/k.pem"}, "set one of them, not both"),
        ({**DOMAIN, "dkim_domain": "shop_example.com", "dkim_private_key": "x"}, "JOURNEYS_DKIM_DOMAIN='shop_example.com' is not a DNS name"),
        ({**DOMAIN, "dkim_selector": "s 1", "dkim_private_key": "x"}, "JOURNEYS_DKIM_SELECTOR='s 1' is not a DNS name"),
    ],
    ids=["domain-only", "no-key", "key-only", "two-keys", "bad-domain", "bad-selector"],
)
def test_half_set_is_refused_naming_what_is_missing(given: dict[str, str], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        Settings(**given)  # type: ignore[arg-type]


def test_the_key_comes_as_text_or_as_a_file(tmp_path: Path, pem: str) -> None:
    signer = SmtpSender.from_settings(Settings(**DOMAIN, dkim_private_key=pem)).dkim
    assert signer is not None and (signer.domain, signer.selector) == ("shop.example.com", "s2026")
    # One environment line with literal \n, as many secret stores hand a PEM over.
    assert SmtpSender.from_settings(Settings(**DOMAIN, dkim_private_key=pem.replace("\n", "\\n"))).dkim is not None
    pkcs8 = generate_private_key(2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(pkcs8)
    signer = SmtpSender.from_settings(Settings(**DOMAIN, dkim_private_key_file=str(key_file))).dkim
    assert signer is not None and signer.key.key_size == 2048


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: bytes | None = None) -> str:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("not a key", "not an unencrypted PEM private key"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n",
         "not an unencrypted PEM private key"),
        (_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024), password=b"secret"), "not an unencrypted PEM private key"),
        (WEAK_512, "an RSA key of 512 bits"),
        (_pem(ec.generate_private_key(ec.SECP256R1())), "not an RSA key"),
    ],
    ids=["garbage", "truncated", "encrypted", "too-short", "not-rsa"],
)
def test_a_key_that_cannot_sign_is_a_startup_error_naming_the_setting(key: str, reason: str) -> None:
    with pytest.raises(InvalidSetting, match=f"JOURNEYS_DKIM_PRIVATE_KEY: {reason}"):
        SmtpSender.from_settings(Settings(**DOMAIN, dkim_private_key=key))


def test_an_unreadable_key_file_is_a_startup_error_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(InvalidSetting, match="JOURNEYS_DKIM_PRIVATE_KEY_FILE: cannot read .*missing.pem"):
        SmtpSender.from_settings(Settings(**DOMAIN, dkim_private_key_file=str(tmp_path / "missing.pem")))


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"JOURNEYS_DKIM_PRIVATE_KEY": "not a key"}, "a setting is invalid:\nJOURNEYS_DKIM_PRIVATE_KEY: not an unencrypted PEM private key"),
        ({"JOURNEYS_DKIM_PRIVATE_KEY": ""}, "invalid settings"),
    ],
    ids=["bad-key", "no-key"],
)
def test_the_worker_refuses_to_start(tmp_path: Path, env: dict[str, str], says: str) -> None:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")},
        "JOURNEYS_HOME": str(tmp_path),
        "JOURNEYS_DKIM_DOMAIN": "shop.example.com",
        "JOURNEYS_DKIM_SELECTOR": "s2026",
        # Nothing listens there: a worker that got past its settings would hang, not exit 2.
        "JOURNEYS_TEMPORAL_ADDRESS": "127.0.0.1:9",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "journeys.cli", "worker"], env=environment, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    assert says in done.stderr


@pytest.mark.parametrize("value", ["Journeys <journeys@example.com>", "news@shop.example.com", '"Shop, Inc." <a@shop.example>',
                                   "Bücher <news@bücher.example>", "ops@localhost"])
def test_a_from_address_that_can_be_sent_is_accepted(value: str) -> None:
    assert Settings(from_email=f" {value} ").from_email == value


@pytest.mark.parametrize(("value", "said"), [
    ("Shop news@shop.example.com", "is not an address"),
    ("Shop <news@shop.example.com", "is not an address"),
    ("Shop <news@shop.example.com> and more", "is not one address"),
    ("a@shop.example, b@shop.example", "is not one address"),
    ("news", "is not an address"),
    ("<>", "is not an address"),
    ("Shop <news@bü..example>", "'bü..example' is not a domain name"),
    ("Shop <news@-shop.example>", "'-shop.example' is not a domain name"),
    ("Shop <news@shop.example>\r\nBcc: x@evil.example", "is not one address"),
])
def test_a_from_address_that_cannot_be_sent_stops_the_start(value: str, said: str) -> None:
    with pytest.raises(ValidationError, match="JOURNEYS_FROM_EMAIL=") as raised:
        Settings(from_email=value)
    assert said in str(raised.value)
