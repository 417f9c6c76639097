"""Where webhook deliveries may go: the URL's form, and each address a host is or resolves to."""

from __future__ import annotations

import ipaddress

import pytest

from services.intake.domain.destinations import (
    DestinationPolicy,
    DestinationRefused,
    check_url,
    parse_address,
    pick_address,
)

LOCAL = DestinationPolicy()
GUARDED = DestinationPolicy(https_only=True, public_only=True)
INSIDE = DestinationPolicy(public_only=True, allowed_networks=(ipaddress.ip_network("10.20.0.0/16"),))

NOT_PUBLIC = [
    "127.0.0.1", "10.0.0.1", "172.16.5.5", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "192.0.2.1", "::1", "fe80::1", "fd00::1", "::ffff:192.168.1.1", "ff02::1",
]  # fmt: skip


def test_the_local_stack_takes_any_http_or_https_url_as_it_is() -> None:
    assert check_url("http://127.0.0.1:8080/hooks", LOCAL) == ("127.0.0.1", 8080)
    assert check_url("https://hooks.example.com/in", LOCAL) == ("hooks.example.com", 443)
    assert pick_address([parse_address("10.0.0.1")], LOCAL, host="x") == ipaddress.ip_address("10.0.0.1")


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_no_address_of_our_own_networks_is_reached_outside_the_local_stack(address: str) -> None:
    with pytest.raises(DestinationRefused, match="not a public address"):
        pick_address([parse_address(address)], GUARDED, host="hooks.example.com")
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(DestinationRefused):
        check_url(f"https://{literal}/in", GUARDED)


def test_public_addresses_are_reached_and_the_first_one_is_the_one_connected_to() -> None:
    found = [parse_address("93.184.216.34"), parse_address("2606:2800:220:1:248:1893:25c8:1946")]
    assert pick_address(found, GUARDED, host="hooks.example.com") == found[0]


def test_one_private_address_among_public_ones_refuses_the_name() -> None:
    found = [parse_address("93.184.216.34"), parse_address("10.0.0.5")]
    with pytest.raises(DestinationRefused, match=r"hooks\.example\.com is or resolves to 10\.0\.0\.5"):
        pick_address(found, GUARDED, host="hooks.example.com")


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(DestinationRefused, match="does not resolve"):
        pick_address([], GUARDED, host="nowhere.invalid")


def test_an_allowed_network_is_reached_and_only_that_one() -> None:
    assert pick_address([parse_address("10.20.3.4")], INSIDE, host="crm.internal") == parse_address("10.20.3.4")
    with pytest.raises(DestinationRefused):
        pick_address([parse_address("10.21.0.1")], INSIDE, host="crm.internal")


def test_an_ipv4_address_written_as_ipv6_is_judged_as_the_ipv4_address() -> None:
    assert parse_address("::ffff:10.20.0.9") == ipaddress.ip_address("10.20.0.9")
    assert pick_address([parse_address("::ffff:10.20.0.9")], INSIDE, host="x") == parse_address("10.20.0.9")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/in", "must use https"),
        ("ftp://hooks.example.com/in", "scheme must be https or http"),
        ("https://user:pw@hooks.example.com/in", "user name or password"),
        ("https:///in", "no host"),
    ],
)
def test_the_urls_form_is_refused_with_the_reason(url: str, why: str) -> None:
    with pytest.raises(DestinationRefused, match=why):
        check_url(url, GUARDED)
