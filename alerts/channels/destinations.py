"""Where a webhook may be sent: loopback, link-local, private, multicast and other non-global addresses are
refused unless the rules allow them (``webhook_allow_private``, ``webhook_allowlist`` of host names and
IPs/CIDRs) or the environment does (RESILIENCE_WEBHOOK_ALLOW_PRIVATE=true, for local development and tests).

Apart from the channel so that the rules' loader (alerts.config) can check destinations at load time
without importing the channel, which itself loads rules.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from alerts.channels.base import PermanentError

ALLOW_PRIVATE_ENV = "RESILIENCE_WEBHOOK_ALLOW_PRIVATE"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class DestinationRefused(PermanentError):
    """The webhook URL points at an address the destination policy does not allow."""


def env_allows_private(env: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get(ALLOW_PRIVATE_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def parse_allowlist(entries: Iterable[str]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    """Split allowlist entries into host names and networks (an IP is a /32 or /128)."""
    hosts: set[str] = set()
    nets: list[IPNetwork] = []
    for raw in entries:
        entry = str(raw).strip()
        if not entry:
            raise ValueError("empty webhook_allowlist entry")
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        if "/" in entry or ":" in entry or " " in entry:
            raise ValueError(f"webhook_allowlist entry {entry!r} is neither a host name nor an IP/CIDR")
        hosts.add(entry.lower().rstrip("."))
    return frozenset(hosts), tuple(nets)


def non_global_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public destination (None if it is)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for attr, reason in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(ip, attr):
            return reason
    return None if ip.is_global else "non-global"


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class DestinationPolicy:
    allow_private: bool = False
    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_config(
        cls, allow_private: bool = False, allowlist: Iterable[str] = (), *, env: Mapping[str, str] | None = None
    ) -> DestinationPolicy:
        hosts, nets = parse_allowlist(allowlist)
        return cls(allow_private=allow_private or env_allows_private(env), hosts=hosts, networks=nets)

    @classmethod
    def from_rules(cls, rules: Any, *, env: Mapping[str, str] | None = None) -> DestinationPolicy:
        if rules is None:
            return cls.from_config(env=env)
        return cls.from_config(rules.webhook_allow_private, rules.webhook_allowlist, env=env)

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def check_ip(self, ip: IPAddress, host: str | None = None) -> None:
        if self.allow_private:
            return
        reason = non_global_reason(ip)
        if reason is None or any(ip in net for net in self.networks if net.version == ip.version):
            return
        via = f"{host} resolves to {ip}" if host and host.strip("[]") != str(ip) else str(ip)
        raise DestinationRefused(
            f"webhook destination refused: {via}, a {reason} address (allow it with "
            f"webhook_allowlist or webhook_allow_private: true in the rules)"
        )

    def check_url_literal(self, url: str) -> None:
        """The load-time check: a URL whose host is a literal IP must be allowed (names pass here)."""
        try:
            host = httpx.URL(url).host
        except httpx.InvalidURL as exc:
            raise DestinationRefused(f"invalid URL {url!r}: {exc}") from None
        ip = ip_literal(host)
        if ip is not None and not self.host_allowed(host):
            self.check_ip(ip)
