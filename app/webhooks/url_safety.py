"""SSRF guard for webhook URLs: only http(s), only public addresses, and no DNS rebinding.

A URL is checked in two places: at create time (a plainly bad URL is a 400) and again before
every send. The send-time check resolves the host once and returns the address that passed;
the sender connects to that address, so a resolver that answers differently the second time
cannot steer the request somewhere private.

`AllowList` (the `T2V_WEBHOOK_ALLOWED_HOSTS` setting) lets named hosts or CIDR networks through,
for private deployments and for tests that run a receiver on 127.0.0.1.
"""

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses the host resolves to (the default asks the system resolver).
Resolver = Callable[[str, int], list[str]]

ALLOWED_SCHEMES = ("http", "https")
# Ranges that `is_global` does not cover on every Python version, listed so the intent is plain.
_ALWAYS_FORBIDDEN = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "100.64.0.0/10",  # carrier-grade NAT
        "169.254.0.0/16",  # link-local, including the cloud metadata service 169.254.169.254
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "240.0.0.0/4",  # reserved, and the broadcast address
    )
)
# IPv6 forms that carry an IPv4 address inside: the embedded one is what gets reached.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$", re.IGNORECASE)


class UnsafeUrl(ValueError):
    """The URL may not receive webhooks; `code` names the reason for API errors."""

    def __init__(self, message: str, code: str = "webhook_url_forbidden"):
        super().__init__(message)
        self.code = code


class UnresolvableHost(OSError):
    """The host did not resolve (possibly a passing DNS failure: worth a retry)."""


@dataclass(frozen=True)
class AllowList:
    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> "AllowList":
        """Comma-separated host names and CIDR networks (a bare IP is a one-address network)."""
        hosts, networks = set(), []
        for entry in (part.strip().lower() for part in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not _HOST_NAME.match(entry):
                raise ValueError(f"{entry!r} is neither a host name nor a CIDR network")
            hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks if network.version == address.version)


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to `address`, but speak to `host` (Host header, TLS SNI)."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]  # the client address
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why webhooks may not go to `address` by default, or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "a scoped (link-local) IPv6 address"
        embedded = _embedded_ipv4(address)
        inner = forbidden_reason(embedded) if embedded is not None else None
        if inner:
            return f"an IPv6 form of {embedded}, {inner}"
    checks = (
        ("an unspecified address", address.is_unspecified),
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
    )
    for reason, hit in checks:
        if hit:
            return reason
    if any(address in network for network in _ALWAYS_FORBIDDEN if network.version == address.version):
        return "a non-public (special-purpose) address"
    if not address.is_global:
        return "not a public address"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"{host} does not resolve: {exc}") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def _as_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_url(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of a webhook URL, or UnsafeUrl when it is not one we can send to."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise UnsafeUrl("webhook_url must be an http(s) URL of at most 2048 characters", "invalid_webhook_url")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise UnsafeUrl("webhook_url must not contain whitespace or control characters", "invalid_webhook_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"webhook_url is not a valid URL: {exc}", "invalid_webhook_url") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeUrl(f"webhook_url must use http or https, not {scheme or 'no scheme'}", "invalid_webhook_url")
    if parts.username is not None or parts.password is not None:
        # Receivers authenticate us by signature; credentials in a URL end up in logs and listings.
        raise UnsafeUrl("webhook_url must not contain credentials", "invalid_webhook_url")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("webhook_url has no host", "invalid_webhook_url")
    if _as_ip(host) is None and not _HOST_NAME.match(host):
        raise UnsafeUrl(f"webhook_url host {host!r} is not a valid host name", "invalid_webhook_url")
    return scheme, host, port or (443 if scheme == "https" else 80)


def _check_addresses(host: str, addresses: Iterable[str], allow: AllowList) -> list[str]:
    checked = []
    for text in addresses:
        address = ipaddress.ip_address(text)
        reason = None if allow.allows_address(address) else forbidden_reason(address)
        if reason:
            shown = host if host == text else f"{host} ({text})"
            raise UnsafeUrl(f"webhook_url host {shown} is {reason}; webhooks only go to public addresses")
        checked.append(text)
    return checked


def check_url(url: str, allow: AllowList, resolver: Resolver = system_resolver) -> Target:
    """Resolve the URL's host once and accept it only if every address it has may be reached.

    Every address must pass, not just one: a name that answers with a public and a private
    address could otherwise be steered to the private one.
    """
    scheme, host, port = parse_url(url)
    literal = _as_ip(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        addresses = resolver(host, port)
        if not addresses:
            raise UnresolvableHost(f"{host} has no addresses")
    if not allow.allows_host(host):
        addresses = _check_addresses(host, addresses, allow)
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])


def check_url_at_create(url: str, allow: AllowList, resolver: Resolver = system_resolver) -> None:
    """Refuse what is plainly bad; a host that does not resolve right now is left to send time."""
    try:
        check_url(url, allow, resolver)
    except UnresolvableHost:
        pass
