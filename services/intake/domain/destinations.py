"""Where webhook deliveries may go (issue 19's webhooks; OWASP SSRF prevention): an endpoint is an address an
admin typed, and every delivery is a POST our network makes to it, so outside the local stack it must be https
and must not reach our own network (loopback, private, link-local — the cloud metadata address among them —,
carrier-grade NAT, multicast, reserved) unless the operator allowed that network by name. Pure: resolving names
is the caller's."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class DestinationRefused(ValueError):
    """The URL or an address its host resolves to is not allowed; the message says which and why."""


@dataclass(frozen=True)
class DestinationPolicy:
    https_only: bool = False
    public_only: bool = False
    """Refuse hosts that are or resolve to an address that is not public."""
    allowed_networks: Sequence[Network] = field(default_factory=tuple)
    """Networks allowed even though they are not public (receivers inside the operator's own network)."""

    @property
    def checks_addresses(self) -> bool:
        return self.public_only


def check_url(url: str, policy: DestinationPolicy) -> tuple[str, int]:
    """The URL's host and port, if its form is allowed (scheme; an address literal is checked here too)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise DestinationRefused(f"the URL's scheme must be https or http, not {parts.scheme!r}")
    if policy.https_only and parts.scheme != "https":
        raise DestinationRefused("webhook endpoints must use https here (`webhook_https_only`)")
    if parts.username or parts.password:
        raise DestinationRefused("the URL must not carry a user name or password; deliveries are signed instead")
    host = parts.hostname
    if not host:
        raise DestinationRefused("the URL has no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    literal = _literal(host)
    if literal is not None:
        check_address(literal, policy, host=host)
    return host, port


def check_address(address: Address, policy: DestinationPolicy, *, host: str) -> None:
    if not policy.public_only or _public(address) or any(address in net for net in _same_family(policy, address)):
        return
    raise DestinationRefused(
        f"{host} is or resolves to {address}, which is not a public address ({_kind(address)}); deliveries "
        "may not reach it unless its network is in `webhook_allowed_networks`"
    )


def pick_address(addresses: Sequence[Address], policy: DestinationPolicy, *, host: str) -> Address:
    """The address to connect to: the first one a name resolves to, once every one of them is allowed (a name
    with one private address among public ones is refused, since which one a client takes is not ours to say)."""
    if not addresses:
        raise DestinationRefused(f"{host} does not resolve to any address")
    for address in addresses:
        check_address(address, policy, host=host)
    return addresses[0]


def _literal(host: str) -> Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return _unmapped(address)


def _unmapped(address: Address) -> Address:
    """An IPv4 address written as IPv6 (::ffff:10.0.0.1) is the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _public(address: Address) -> bool:
    address = _unmapped(address)
    return address.is_global and not address.is_multicast


def _same_family(policy: DestinationPolicy, address: Address) -> list[Network]:
    return [net for net in policy.allowed_networks if net.version == address.version]


def _kind(address: Address) -> str:
    address = _unmapped(address)
    for kind, flag in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("private", address.is_private),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
    ):
        if flag:
            return kind
    return "not globally routable"


def parse_address(text: str) -> Address:
    return _unmapped(ipaddress.ip_address(text))
