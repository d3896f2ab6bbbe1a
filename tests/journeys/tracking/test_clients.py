"""The client's address: the peer, X-Forwarded-For only behind a trusted proxy; logs mask it."""

from __future__ import annotations

import pytest

from journeys.tracking.clients import client_address, masked


def test_the_peer_is_the_client_unless_a_proxy_is_trusted() -> None:
    assert client_address("10.0.0.5", "17.1.2.3", trust_forwarded_for=False) == "10.0.0.5"
    assert client_address("10.0.0.5", "17.1.2.3", trust_forwarded_for=True) == "17.1.2.3"


def test_behind_a_trusted_proxy_the_last_entry_counts_not_what_the_client_wrote() -> None:
    assert client_address("10.0.0.5", "6.6.6.6, 203.0.113.7", trust_forwarded_for=True) == "203.0.113.7"


@pytest.mark.parametrize("header", [None, "", "not-an-ip", "1.2.3.4, ", "unknown"])
def test_a_forwarded_for_without_an_address_falls_back_to_the_peer(header: str | None) -> None:
    assert client_address("10.0.0.5", header, trust_forwarded_for=True) == "10.0.0.5"


def test_no_peer_is_no_address() -> None:
    assert client_address(None, None, trust_forwarded_for=False) is None


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("203.0.113.7", "203.0.113.0/24"),
        ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
        (None, "unknown"),
        ("testclient", "not an IP address"),
    ],
)
def test_logs_see_a_network_not_an_address(address: str | None, shown: str) -> None:
    assert masked(address) == shown
