"""Client address and scheme, honouring forwarding headers only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from ._headers import RequestHeaders

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """A set of proxy networks whose ``Forwarded``/``X-Forwarded-*`` headers are believed."""

    __slots__ = ("_networks",)

    def __init__(self, networks: Iterable[str] = ()) -> None:
        self._networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks
        )

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: str | None) -> bool:
        if not self._networks or not address:
            return False
        ip = _parse_ip(address)
        return ip is not None and any(ip in net for net in self._networks)

    def client(self, peer: str | None, headers: RequestHeaders) -> str | None:
        """The client address: the right-most untrusted hop when ``peer`` is a trusted proxy."""
        if not self.trusts(peer):
            return peer
        hops = _forwarded_for(headers)
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else peer

    def scheme(self, peer: str | None, headers: RequestHeaders, default: str) -> str:
        if not self.trusts(peer):
            return default
        forwarded = headers.get("forwarded")
        if forwarded:
            for element in forwarded.split(",")[-1:]:
                for pair in element.split(";"):
                    key, _, value = pair.strip().partition("=")
                    if key.lower() == "proto" and value:
                        return value.strip('"').lower()
        proto = headers.get("x-forwarded-proto")
        if proto:
            return proto.split(",")[-1].strip().lower()
        return default


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


def _forwarded_for(headers: RequestHeaders) -> list[str]:
    forwarded = headers.getall("forwarded")
    hops: list[str] = []
    if forwarded:
        for line in forwarded:
            for element in line.split(","):
                for pair in element.split(";"):
                    key, _, value = pair.strip().partition("=")
                    if key.lower() == "for" and value:
                        hops.append(_strip_port(value))
        return [h for h in hops if _parse_ip(h) is not None]
    for line in headers.getall("x-forwarded-for"):
        hops.extend(_strip_port(part) for part in line.split(",") if part.strip())
    return [h for h in hops if _parse_ip(h) is not None]
