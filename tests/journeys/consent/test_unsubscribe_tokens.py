"""Signed unsubscribe tokens: they read back what was signed and nothing else."""

import re

import pytest

from journeys.consent.unsubscribe_tokens import InvalidToken, UnsubscribeClaims, make_token, read_token

SECRET = "test-secret"


def _flip(char: str) -> str:
    return "B" if char == "A" else "A"


@pytest.mark.parametrize(
    "customer_id",
    ["c1", "zoë-ünïcødé-客户-🙂", 'odd . "quoted" \\ / + = ? & # %00 \n\t', ""],
)
def test_token_reads_back_customer_and_topic(customer_id: str) -> None:
    token = make_token(SECRET, customer_id, "offers")
    assert read_token(SECRET, token) == UnsubscribeClaims(customer_id=customer_id, topic="offers")


@pytest.mark.parametrize("customer_id", ["c1", "zoë-客户-🙂", 'a.b "c" /+= ?&#'])
def test_token_has_only_url_safe_characters(customer_id: str) -> None:
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", make_token(SECRET, customer_id, "offers"))


def test_tokens_for_different_topics_differ() -> None:
    assert make_token(SECRET, "c1", "offers") != make_token(SECRET, "c1", "product")


def test_token_starts_with_the_version() -> None:
    assert make_token(SECRET, "c1", "offers").startswith("u1.")


@pytest.mark.parametrize("index", [0, 5, -1])
def test_altered_payload_character_is_refused(index: int) -> None:
    version, payload, signature = make_token(SECRET, "c1", "offers").split(".")
    chars = list(payload)
    chars[index] = _flip(chars[index])
    with pytest.raises(InvalidToken, match="signature"):
        read_token(SECRET, f"{version}.{''.join(chars)}.{signature}")


@pytest.mark.parametrize("index", [0, 10, -2])
def test_altered_signature_character_is_refused(index: int) -> None:
    version, payload, signature = make_token(SECRET, "c1", "offers").split(".")
    chars = list(signature)
    chars[index] = _flip(chars[index])
    with pytest.raises(InvalidToken, match="signature"):
        read_token(SECRET, f"{version}.{payload}.{''.join(chars)}")


def test_any_altered_last_signature_character_is_refused() -> None:
    version, payload, signature = make_token(SECRET, "c1", "offers").split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    accepted = []
    for other in alphabet.replace(signature[-1], ""):
        try:
            read_token(SECRET, f"{version}.{payload}.{signature[:-1]}{other}")
        except InvalidToken:
            continue
        accepted.append(other)
    assert accepted == []


def test_token_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(InvalidToken, match="bad signature"):
        read_token(SECRET, make_token("foreign", "c1", "offers"))


@pytest.mark.parametrize("version", ["u0", "u2", "U1", ""])
def test_token_with_another_version_is_refused_as_unknown_format(version: str) -> None:
    _, payload, signature = make_token(SECRET, "c1", "offers").split(".")
    with pytest.raises(InvalidToken, match="format"):
        read_token(SECRET, f"{version}.{payload}.{signature}")


@pytest.mark.parametrize(
    "token",
    ["", "abc", "u1.x", "u1.!!.??", "u1..", "u1.x.y.z", "u1.é.ü", "u1.eyJjIjoiYzEifQ.x", "..."],
)
def test_malformed_token_raises_invalid_token_only(token: str) -> None:
    with pytest.raises(InvalidToken):
        read_token(SECRET, token)


def test_another_customers_payload_under_my_signature_is_refused() -> None:
    _, mine_payload, mine_signature = make_token(SECRET, "attacker", "offers").split(".")
    _, victim_payload, _ = make_token(SECRET, "victim", "offers").split(".")
    assert victim_payload != mine_payload
    with pytest.raises(InvalidToken, match="bad signature"):
        read_token(SECRET, f"u1.{victim_payload}.{mine_signature}")


def test_topic_cannot_be_swapped_without_the_secret() -> None:
    _, _, signature = make_token(SECRET, "c1", "product").split(".")
    _, swapped_payload, _ = make_token("guessed", "c1", "offers").split(".")
    with pytest.raises(InvalidToken, match="bad signature"):
        read_token(SECRET, f"u1.{swapped_payload}.{signature}")


def test_correctly_signed_payload_without_claims_is_malformed() -> None:
    # Only reachable with the secret; it must still be InvalidToken, not KeyError.
    import base64
    import hashlib
    import hmac

    for body in (b'{"c":"c1"}', b"[1,2]", b'{"c":1,"t":"offers"}', b"not json"):
        payload = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
        digest = hmac.new(SECRET.encode(), b"journeys unsubscribe\x00u1." + payload.encode(), hashlib.sha256).digest()
        signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        with pytest.raises(InvalidToken, match="malformed payload"):
            read_token(SECRET, f"u1.{payload}.{signature}")
