"""Which addresses Drumbeat may send an HTTP request to: the guard against server-side request
forgery through user-supplied URLs (send_webhook actions, outbound webhook endpoints).

Refused: loopback, private (RFC 1918, 100.64.0.0/10 carrier-grade NAT, fc00::/7), link-local
(169.254.0.0/16, fe80::/10), multicast, reserved, unspecified (0.0.0.0/8, ::) and any other
address that is not globally routable, also when written as an IPv4-mapped IPv6 address
(::ffff:127.0.0.1), in 6to4 or NAT64 form, or in the legacy numeric IPv4 forms a resolver
accepts (0x7f.1, 2130706433, 0177.0.0.1); and the names `localhost` and `*.localhost`. Only
http and https.

Two checks use the same rules:
- `check_url(url)` when a URL is saved: what the URL itself says (scheme, literal addresses,
  localhost). A host name is not resolved then: DNS may answer differently later.
- `guarded_client()` when a URL is called: an httpx client whose connections resolve the host,
  check every address it resolves to, and connect to a checked address (the Host header, TLS
  SNI and certificate check keep the host name), so a name re-pointed to an inside address
  (DNS rebinding) is refused too. It never follows redirects and takes no proxy from the
  environment. A refused call raises `AddressRefused` ("address not allowed: 127.0.0.1 is
  loopback").

`DRUMBEAT_WEBHOOK_ALLOW` (settings.WEBHOOK_ALLOW) lets an administrator allow host names
(exactly, a trailing dot ignored) and networks or single addresses in CIDR form, e.g.
`hooks.internal,10.0.5.0/24,127.0.0.1`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = ("http", "https")
PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
UNSPECIFIED = ipaddress.ip_network("0.0.0.0/8")  # Linux connects 0.x to this host
NAT64 = ipaddress.ip_network("64:ff9b::/96")
LOOPBACK = ipaddress.ip_address("127.0.0.1")
# A host whose last label is a number is an IPv4 address to resolvers and browsers alike.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_HOST_NAME = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*\.?$")


class AddressRefused(ValueError):
    """A URL or address Drumbeat will not send a request to; the message says why."""


@dataclass(frozen=True)
class AllowList:
    names: frozenset[str]
    networks: tuple[IPNetwork, ...]

    def allows_name(self, host: str) -> bool:
        return _bare(host) in self.names

    def allows_address(self, ip: IPAddress) -> bool:
        return any(ip in network for network in self.networks if ip.version == network.version)


def _bare(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def parse_allow(entries: Iterable[str]) -> AllowList:
    """The allow-list of `entries` (host names, addresses, CIDR networks); ValueError naming
    the first entry that is none of these."""
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if "/" in entry or ":" in entry or not _HOST_NAME.match(entry):
            raise ValueError(f"{raw.strip()!r} is neither a host name nor a CIDR network")
        names.add(entry.rstrip("."))
    return AllowList(frozenset(names), tuple(networks))


@functools.lru_cache(maxsize=8)
def _cached_allow(entries: tuple[str, ...]) -> AllowList:
    kept = []
    for entry in entries:  # a bad entry is reported by the system checks and ignored here
        try:
            parse_allow([entry])
        except ValueError:
            continue
        kept.append(entry)
    return parse_allow(kept)


def allow_list() -> AllowList:
    """The allow-list of the current settings (`DRUMBEAT_WEBHOOK_ALLOW`)."""
    return _cached_allow(tuple(getattr(settings, "WEBHOOK_ALLOW", ()) or ()))


# --- the address rules ---------------------------------------------------------------------------


def refusal(ip: IPAddress) -> str | None:
    """Why `ip` may not be called ("loopback", "private", …), or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or _nat64(ip)
        if embedded is not None:
            why = refusal(embedded)
            return f"{why} (embeds {embedded})" if why else None
    if ip.is_unspecified or ip in UNSPECIFIED:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if any(ip in network for network in PRIVATE if ip.version == network.version):
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not a public address"
    return None


def _nat64(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else None


def check_address(ip: IPAddress, allow: AllowList | None = None) -> None:
    """Raise AddressRefused unless `ip` is public or in an allowed network."""
    allow = allow or allow_list()
    why = refusal(ip)
    if why and not allow.allows_address(ip):
        raise AddressRefused(f"address not allowed: {_shown(ip)} is {why}")


def _shown(ip: IPAddress) -> str:
    mapped = getattr(ip, "ipv4_mapped", None)
    return f"::ffff:{mapped}" if mapped else str(ip)


def literal_address(host: str) -> IPAddress | None:
    """The address `host` writes literally (also 0x7f.1, 2130706433, 0177.0.0.1), or None for
    a name; AddressRefused for a number that is no address."""
    bare = _bare(host)
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if not _NUMERIC_LABEL.match(bare.rsplit(".", 1)[-1]):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError:
        raise AddressRefused(f"address not allowed: {host} is not a valid IPv4 address") from None


def check_host(host: str, allow: AllowList | None = None) -> None:
    """What `host` tells without being resolved: an allowed name, a literal address, localhost."""
    allow = allow or allow_list()
    if allow.allows_name(host):
        return
    ip = literal_address(host)
    if ip is not None:
        check_address(ip, allow)
        return
    bare = _bare(host)
    is_localhost = bare == "localhost" or bare.endswith(".localhost")  # RFC 6761: loopback
    if is_localhost and not allow.allows_address(LOOPBACK):
        raise AddressRefused(f"address not allowed: {host} is loopback")


def check_url(url: str) -> None:
    """Save-time check of a user-supplied URL: http(s), a host, not an inside address."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise AddressRefused(f"not a valid URL: {exc}") from None
    if parsed.scheme not in SCHEMES:
        raise AddressRefused("only http:// and https:// URLs are allowed")
    if not parsed.host:
        raise AddressRefused("the URL has no host")
    check_host(parsed.host)


def resolve(host: str, port: int) -> list[str]:
    """Call-time check: the addresses `host` resolves to now, each checked (an allowed name's
    are not). Raises AddressRefused, or socket.gaierror when the name does not resolve."""
    allow = allow_list()
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not allow.allows_name(host):
        for address in addresses:
            check_address(ipaddress.ip_address(address.split("%", 1)[0]), allow)
    return addresses


# --- the guarded HTTP client --------------------------------------------------------------------


class GuardedBackend(httpcore.SyncBackend):
    """Opens each TCP connection to a checked address of the host (see `resolve`)."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve(host, port)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"{host}: {exc.strerror or exc}") from None
        last: Exception = httpcore.ConnectError(f"{host}: no address")
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the connection pool on `GuardedBackend`."""

    def __init__(self, verify: ssl.SSLContext | bool = True) -> None:
        super().__init__(trust_env=False)
        context = verify if isinstance(verify, ssl.SSLContext) else None
        # httpx offers no public way to choose the pool's network backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=context or httpx.create_ssl_context(verify=verify, trust_env=False),
            network_backend=GuardedBackend(),
        )


def guarded_client(
    timeout: float | httpx.Timeout, verify: ssl.SSLContext | bool = True, **kwargs: Any
) -> httpx.Client:
    """An httpx client for user-supplied URLs: checked addresses only, no redirect followed,
    no proxy from the environment. Refused requests raise AddressRefused."""
    return httpx.Client(
        transport=GuardedTransport(verify),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        **kwargs,
    )
