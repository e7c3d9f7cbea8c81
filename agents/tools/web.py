"""WebFetch: GET a URL with size and time caps, never into private networks by default.

Every address the host name resolves to is checked (not just the first), and redirects
are followed by hand so each hop is checked too; otherwise a public URL could bounce
the fetch to 169.254.169.254 or localhost.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from urllib.parse import urljoin, urlsplit

import requests

from agents.tools.base import Tool, ToolContext, ToolError, arg_str, schema

_MAX_REDIRECTS = 5
_METADATA_HOSTS = {"metadata.google.internal", "metadata"}


def _allowed(host: str, addr: ipaddress._BaseAddress, allow: tuple[str, ...]) -> bool:
    for entry in allow:
        if entry == host:
            return True
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_url(url: str, allow: tuple[str, ...]) -> None:
    """Raise ToolError unless `url` is http(s) to a public address (or allow-listed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolError("only http and https URLs with a host are allowed")
    host = parts.hostname.lower()
    if host in _METADATA_HOSTS and host not in allow:
        raise ToolError(f"{host}: metadata addresses are refused")
    try:
        infos = socket.getaddrinfo(host, parts.port or 80, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise ToolError(f"{host}: cannot resolve ({exc})") from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0].split("%")[0])
        if getattr(addr, "ipv4_mapped", None):
            addr = addr.ipv4_mapped
        private = (
            addr.is_loopback
            or addr.is_link_local
            or addr.is_private
            or addr.is_reserved
            or addr.is_multicast
            or addr.is_unspecified
        )
        if private and not _allowed(host, addr, allow):
            raise ToolError(f"{host} resolves to {addr}, a non-public address; refused")


def _fetch(ctx: ToolContext, args: dict) -> str:
    url = arg_str(args, "url")
    limits = ctx.limits
    deadline = time.monotonic() + limits.webfetch_timeout
    for _ in range(_MAX_REDIRECTS + 1):
        check_url(url, limits.webfetch_allow)
        try:
            resp = requests.get(
                url,
                timeout=limits.webfetch_timeout,
                stream=True,
                allow_redirects=False,
                headers={"User-Agent": "legato-webfetch/1"},
            )
        except requests.RequestException as exc:
            raise ToolError(f"fetch failed: {type(exc).__name__}") from None
        if resp.is_redirect and resp.headers.get("Location"):
            url = urljoin(url, resp.headers["Location"])
            resp.close()
            continue
        return _body(resp, limits.webfetch_max_bytes, deadline)
    raise ToolError(f"more than {_MAX_REDIRECTS} redirects")


def _body(resp: requests.Response, cap: int, deadline: float) -> str:
    chunks, size, truncated = [], 0, False
    with resp:
        for chunk in resp.iter_content(8192):
            if time.monotonic() > deadline:
                raise ToolError("fetch took too long; aborted")
            chunks.append(chunk)
            size += len(chunk)
            if size >= cap:
                truncated = True
                break
    body = b"".join(chunks)[:cap].decode(resp.encoding or "utf-8", errors="replace")
    head = f"HTTP {resp.status_code} {resp.headers.get('Content-Type', '')}".strip()
    tail = f"\n[truncated at {cap} bytes]" if truncated else ""
    return f"{head}\n\n{body}{tail}"


TOOLS = [
    Tool(
        "WebFetch",
        "Fetch a public http(s) URL and return the start of its body.",
        schema(["url"], url={"type": "string"}),
        _fetch,
    )
]
