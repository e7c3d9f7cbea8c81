"""Outbound HTTP for tools and callbacks: only to globally routable addresses, and to the
address that was checked.

Checking a URL's addresses and then letting `requests` resolve the name again is open to
DNS rebinding: the second answer may be 127.0.0.1. So a URL is resolved once (`vet`),
every address is checked, and the connection is made to a checked address by a
transport adapter that keeps the real name for the Host header, TLS SNI and
certificate verification. Redirects are followed by hand, each hop vetted the same way.

The address rule is the `ipaddress` module's `is_global` (after unwrapping IPv4
addresses carried inside IPv6 ones), plus a few ranges it does not refuse on every
Python version, plus cloud metadata host names. An allow-list (host names, IPs or
CIDRs) lets a deployment reach its own services on purpose.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as strings. The seam tests use to play
# a rebinding DNS server; production uses the system resolver.
Resolver = Callable[[str, int], list[str]]

# Metadata services reachable by name; their addresses are refused anyway, but an
# allow-listed range must not open them by accident.
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)
# Not globally routable, but `is_global` calls some of 192.0.0.0/24 global.
_REFUSED_NETWORKS = (
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("192.0.0.0/24"),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
REDIRECT_CODES = (301, 302, 303, 307, 308)


class Refused(ValueError):
    """The URL may not be reached: wrong scheme, or a non-public or metadata target."""


class Unresolvable(OSError):
    """The host name does not resolve (today)."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(info[4][0] for info in infos))


def unwrap(addr: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), else `addr`."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr.sixtofour is not None:
            return addr.sixtofour
        if addr in _NAT64:
            return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return addr


def is_public(addr: IPAddress) -> bool:
    """True only for a globally routable unicast address."""
    addr = unwrap(addr)
    if addr.is_multicast or not addr.is_global:
        return False
    return not any(addr in net for net in _REFUSED_NETWORKS if net.version == addr.version)


@dataclass(frozen=True)
class AllowList:
    """Host names, and IP networks (an IP is a /32 or /128), that may be reached although
    they are not public. Built from a setting such as WEBFETCH_ALLOW."""

    names: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        names, networks = set(), []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(entry)
        return cls(frozenset(names), tuple(networks))

    def admits(self, addr: IPAddress) -> bool:
        return any(addr in net or unwrap(addr) in net for net in self.networks)


@dataclass(frozen=True)
class Target:
    """A URL whose addresses were resolved once and all checked."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def vet(
    url: str, allow: AllowList | Iterable[str] = (), resolver: Resolver | None = None
) -> Target:
    """Resolve `url`'s host once; Refused unless every address may be reached."""
    if not isinstance(allow, AllowList):
        allow = AllowList.parse(allow)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"malformed URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("only http and https URLs with a host are allowed")
    host = parts.hostname.lower().rstrip(".")
    if not host.isascii():
        try:  # what requests will put on the wire, so the pin matches it
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise Refused(f"{host!r} is not a valid host name") from None
    port = port or (443 if parts.scheme == "https" else 80)
    named = host in allow.names
    if host in METADATA_HOSTS and not named:
        raise Refused(f"{host} is a cloud metadata service")
    literal = _literal(host)
    if literal is not None:
        found = [str(literal)]
    else:
        try:
            found = (resolver or system_resolver)(host, port)
        except (OSError, UnicodeError) as exc:
            raise Unresolvable(f"cannot resolve {host}: {exc}") from None
        if not found:
            raise Unresolvable(f"{host} has no addresses")
    addresses = []
    for text in found:
        try:
            addr = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise Refused(f"{host} resolved to {text!r}, not an IP address") from None
        if not (named or allow.admits(addr) or is_public(addr)):
            where = "" if literal is not None else f"{host} resolves to "
            raise Refused(f"{where}{addr}: not a public address")
        addresses.append(str(addr))
    return Target(url, parts.scheme, host, port, tuple(addresses))


class PinnedAdapter(HTTPAdapter):
    """Connects to one vetted address, whatever the name resolves to now; the URL's
    name stays the Host header, the TLS SNI name and the name the certificate must
    carry."""

    def __init__(self, target: Target, address: str):
        self.target, self.address = target, address
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if (host_params["host"] or "").lower().rstrip(".") != self.target.host:
            raise Refused("the pinned connection may only carry its vetted URL")
        host_params["host"] = self.address
        if host_params["scheme"] == "https" and _literal(self.target.host) is None:
            pool_kwargs["server_hostname"] = self.target.host
            pool_kwargs["assert_hostname"] = self.target.host
        return host_params, pool_kwargs

    def send(self, request, **kwargs):
        request.headers["Host"] = self.target.host_header
        return super().send(request, **kwargs)


def send_pinned(target: Target, method: str, **kwargs: Any) -> requests.Response:
    """One request to `target`, trying its vetted addresses in order until one connects.
    Never follows redirects, never uses environment proxies (they would bypass the pin);
    a CA bundle named by REQUESTS_CA_BUNDLE is still honoured."""
    kwargs.setdefault("verify", os.environ.get("REQUESTS_CA_BUNDLE") or True)
    last: Exception | None = None
    for address in target.addresses:
        session = requests.Session()
        session.trust_env = False
        session.mount("http://", PinnedAdapter(target, address))
        session.mount("https://", PinnedAdapter(target, address))
        try:
            # The response keeps its adapter alive (a streamed body is read later).
            return session.request(method, target.url, allow_redirects=False, **kwargs)
        except requests.exceptions.ConnectionError as exc:
            session.close()
            last = exc  # this address did not answer; the next vetted one may
        except Exception:
            session.close()
            raise
    assert last is not None
    raise last


def fetch(
    method: str,
    url: str,
    *,
    allow: AllowList | Iterable[str] = (),
    resolver: Resolver | None = None,
    max_redirects: int = 0,
    **kwargs: Any,
) -> requests.Response:
    """`method` `url` under the address policy, following up to `max_redirects`
    redirects, each hop vetted and pinned. A redirect turns any method but
    307/308's into GET without a body, as browsers do."""
    if not isinstance(allow, AllowList):
        allow = AllowList.parse(allow)
    for _ in range(max_redirects + 1):
        resp = send_pinned(vet(url, allow, resolver), method, **kwargs)
        location = resp.headers.get("Location")
        if not (max_redirects and resp.status_code in REDIRECT_CODES and location):
            return resp
        resp.close()
        url = urljoin(url, location)
        if resp.status_code not in (307, 308):
            method = "GET"
            kwargs.pop("data", None)
            kwargs.pop("json", None)
    raise Refused(f"more than {max_redirects} redirects")
