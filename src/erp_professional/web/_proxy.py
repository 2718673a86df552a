"""Client address and scheme, honouring forwarding headers only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from ._headers import RequestHeaders

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """A set of proxy networks whose ``Forwarded``/``X-Forwarded-*`` headers are believed."""

    __slots__ = ("_networks", "active")

    def __init__(self, networks: Iterable[str] = ()) -> None:
        self._networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks
        )
        #: Any proxy trusted at all? Without one, forwarding headers are never read.
        self.active = bool(self._networks)

    def __bool__(self) -> bool:
        return self.active

    def trusts(self, address: str | None) -> bool:
        if not self._networks or not address:
            return False
        ip = _parse_ip(address)
        return ip is not None and any(ip in net for net in self._networks)

    def client(self, peer: str | None, headers: RequestHeaders) -> str | None:
        """The client address: the right-most untrusted hop when ``peer`` is a trusted proxy."""
        if not self.trusts(peer):
            return peer
        hop = self._client_hop(headers)
        return hop.address if hop is not None else peer

    def scheme(self, peer: str | None, headers: RequestHeaders, default: str) -> str:
        """The scheme the client used, as the trusted proxy reported it."""
        if not self.trusts(peer):
            return default
        hop = self._client_hop(headers)
        if hop is not None and hop.proto:
            return hop.proto
        proto = headers.get("x-forwarded-proto")
        if proto:
            return proto.split(",")[-1].strip().lower()
        return default

    def _client_hop(self, headers: RequestHeaders) -> _Hop | None:
        hops = _hops(headers)
        for hop in reversed(hops):
            if not self.trusts(hop.address):
                return hop
        return hops[0] if hops else None


class _Hop:
    __slots__ = ("address", "proto")

    def __init__(self, address: str, proto: str | None) -> None:
        self.address = address
        self.proto = proto


@lru_cache(maxsize=4096)
def _parse_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def _strip_port(value: str) -> str:
    value = value.strip().strip('"')
    if value.startswith("["):  # [v6]:port
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:  # v4:port
        return value.split(":", 1)[0]
    return value


def _hops(headers: RequestHeaders) -> list[_Hop]:
    """The proxy chain, left (client side) to right, from ``Forwarded`` or ``X-Forwarded-For``."""
    hops: list[_Hop] = []
    forwarded = headers.getall("forwarded")
    if forwarded:
        for line in forwarded:
            for element in line.split(","):
                address: str | None = None
                proto: str | None = None
                for pair in element.split(";"):
                    key, _, value = pair.strip().partition("=")
                    key = key.lower()
                    if key == "for" and value:
                        address = _strip_port(value)
                    elif key == "proto" and value:
                        proto = value.strip().strip('"').lower() or None
                if address is not None and _parse_ip(address) is not None:
                    hops.append(_Hop(address, proto))
        return hops
    for line in headers.getall("x-forwarded-for"):
        for part in line.split(","):
            address = _strip_port(part)
            if part.strip() and _parse_ip(address) is not None:
                hops.append(_Hop(address, None))
    return hops
