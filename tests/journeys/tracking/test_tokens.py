"""Signed tracking tokens: they read back what was signed, and nothing else passes."""

from __future__ import annotations

import base64
import json
import re

import pytest

from journeys.consent.unsubscribe_tokens import make_token as unsubscribe_token
from journeys.consent.unsubscribe_tokens import read_token as read_unsubscribe_token
from journeys.consent.unsubscribe_tokens import InvalidToken as InvalidUnsubscribeToken
from journeys.contracts.signed_tokens import _b64
from journeys.tracking.tokens import (
    _FORMAT,
    InvalidToken,
    TrackingClaims,
    click_token,
    open_token,
    read_token,
    tracking_key,
)

SECRET = "test-secret"
KEY = tracking_key(SECRET)


def _flip(char: str) -> str:
    return "B" if char == "A" else "A"


def _signed(payload: object) -> str:
    """A token with any payload, validly signed: what someone holding the key could make."""
    body = _b64(json.dumps(payload).encode())
    return f"t1.{body}.{_b64(_FORMAT._sign(KEY, body))}"


def test_a_click_token_reads_back_message_and_link() -> None:
    assert read_token(KEY, click_token(KEY, "m-1", 3)) == TrackingClaims("m-1", "click", 3)


def test_an_open_token_reads_back_the_message() -> None:
    assert read_token(KEY, open_token(KEY, "m-1")) == TrackingClaims("m-1", "open", None)


def test_tokens_are_versioned_and_url_safe() -> None:
    for token in (click_token(KEY, "a" * 32, 499), open_token(KEY, "a" * 32)):
        assert token.startswith("t1.") and re.fullmatch(r"t1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)


def test_the_key_is_derived_not_the_secret_itself() -> None:
    assert KEY != SECRET.encode() and len(KEY) == 32
    assert tracking_key(SECRET) == KEY and tracking_key("other") != KEY


@pytest.mark.parametrize("index", [0, 5, -1])
def test_an_altered_payload_is_refused(index: int) -> None:
    version, payload, signature = click_token(KEY, "m-1", 0).split(".")
    chars = list(payload)
    chars[index] = _flip(chars[index])
    with pytest.raises(InvalidToken, match="signature"):
        read_token(KEY, f"{version}.{''.join(chars)}.{signature}")


def test_any_other_last_signature_character_is_refused() -> None:
    """Base64 ignores the spare bits of the last character; the comparison is of text."""
    version, payload, signature = click_token(KEY, "m-1", 0).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for other in alphabet.replace(signature[-1], ""):
        with pytest.raises(InvalidToken):
            read_token(KEY, f"{version}.{payload}.{signature[:-1]}{other}")


def test_a_swapped_message_id_under_the_old_signature_is_refused() -> None:
    good = click_token(KEY, "m-1", 0)
    other = click_token(KEY, "m-2", 0)
    forged = ".".join([*other.split(".")[:2], good.split(".")[2]])
    with pytest.raises(InvalidToken, match="signature"):
        read_token(KEY, forged)


def test_another_secret_signs_nothing_we_read() -> None:
    with pytest.raises(InvalidToken, match="signature"):
        read_token(KEY, click_token(tracking_key("another"), "m-1", 0))


def test_tracking_and_unsubscribe_tokens_never_pass_for_each_other() -> None:
    unsubscribe = unsubscribe_token(SECRET, "ann", "offers")
    with pytest.raises(InvalidToken):
        read_token(KEY, unsubscribe)
    with pytest.raises(InvalidToken):  # the same payload under the tracking version: not our signature
        read_token(KEY, "t1." + ".".join(unsubscribe.split(".")[1:]))
    with pytest.raises(InvalidUnsubscribeToken):
        read_unsubscribe_token(SECRET, "u1." + ".".join(click_token(KEY, "m-1", 0).split(".")[1:]))


@pytest.mark.parametrize("token", ["", "t1", "t1.a", "t1.a.b.c", "u1.a.b", "t2.eyJ9.abc", "t1..", "..."])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        read_token(KEY, token)


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2],
        "text",
        7,
        {"m": "m-1", "k": "c"},  # a click without a link
        {"m": "m-1", "k": "c", "i": -1},
        {"m": "m-1", "k": "c", "i": True},  # JSON true is no position
        {"m": "m-1", "k": "c", "i": 1.0},
        {"m": "m-1", "k": "c", "i": "0"},
        {"m": "m-1", "k": "o", "i": 0},  # an open names no link
        {"m": "m-1", "k": "x"},
        {"m": "m-1", "k": ["c"]},
        {"m": "", "k": "o"},
        {"m": "m" * 65, "k": "o"},
        {"m": 12, "k": "o"},
        {"k": "o"},
    ],
)
def test_a_validly_signed_payload_that_is_not_ours_is_refused(payload: object) -> None:
    with pytest.raises(InvalidToken, match="malformed payload"):
        read_token(KEY, _signed(payload))


def test_signed_bytes_that_are_not_json_are_refused() -> None:
    body = base64.urlsafe_b64encode(b"\xff\xfe not json").rstrip(b"=").decode()
    with pytest.raises(InvalidToken, match="malformed payload"):
        read_token(KEY, f"t1.{body}.{_b64(_FORMAT._sign(KEY, body))}")
