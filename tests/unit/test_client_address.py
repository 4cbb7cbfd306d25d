"""Which address the audit log records: the peer, or the load balancer's forwarded hop when trusted."""

from __future__ import annotations

import pytest

from shared.client_address import client_address

FORWARDED = "203.0.113.9, 198.51.100.7"


def test_without_trust_the_forwarded_header_is_ignored() -> None:
    assert client_address("10.0.0.5", FORWARDED, trust_proxy=False) == "10.0.0.5"


def test_behind_the_balancer_the_last_hop_is_the_client() -> None:
    assert client_address("10.0.0.5", FORWARDED, trust_proxy=True) == "198.51.100.7"


def test_behind_the_balancer_without_the_header_the_peer_is_recorded() -> None:
    assert client_address("10.0.0.5", None, trust_proxy=True) == "10.0.0.5"


@pytest.mark.parametrize("junk", ["not-an-address", "198.51.100.7<script>", "x" * 100])
def test_what_is_not_an_address_is_not_recorded(junk: str) -> None:
    assert client_address("10.0.0.5", f"203.0.113.9, {junk}", trust_proxy=True) is None
    assert client_address(junk, None, trust_proxy=False) is None


def test_ipv6_is_recorded_in_its_canonical_form() -> None:
    assert client_address("2001:DB8::0001", None, trust_proxy=False) == "2001:db8::1"
